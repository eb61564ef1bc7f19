package model

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Repository passwords travel encrypted in ArtifactUpdatedEvent.repoPassword and in application
// sign-ups (docs/stratos-wire.md §1.5.3), under the application key that every member of the
// application finds in its payload as CARTRIDGE_KEY.
//
// Two forms exist:
//
//   - Stratos' form: AES/ECB/PKCS5Padding with the key's bytes as the AES key (16 characters,
//     AES-128), Base64-encoded. ECB leaks equal blocks and has no integrity; it is kept because
//     unmodified Stratos agents can read nothing else. EncryptPasswordECB writes it.
//   - Strata's form: PasswordGCMPrefix + Base64(nonce | ciphertext | tag) with AES-256-GCM under
//     SHA-256(key). EncryptPassword writes it; a Strata agent reads both.
//
// DecryptPassword tells the forms apart by the prefix, which cannot start a Base64 string.

// PasswordGCMPrefix starts a password encrypted in Strata's AES-GCM form.
const PasswordGCMPrefix = "gcm:"

// ErrPassword is wrapped by every error of EncryptPassword, EncryptPasswordECB and DecryptPassword.
var ErrPassword = errors.New("model: repository password")

// EncryptPassword encrypts a repository password in Strata's form: "gcm:" followed by the standard
// Base64 of a random 12-byte nonce, the ciphertext and the 16-byte tag, with AES-256-GCM keyed by
// SHA-256 of the application key. An empty key is an error.
func EncryptPassword(key, password string) (string, error) {
	aead, err := gcmFor(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(password)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("%w: nonce: %w", ErrPassword, err)
	}
	sealed := aead.Seal(nonce, nonce, []byte(password), nil)
	return PasswordGCMPrefix + base64.StdEncoding.EncodeToString(sealed), nil
}

// EncryptPasswordECB encrypts a repository password as Stratos does (CommonUtil.encryptPassword):
// AES/ECB/PKCS5Padding with the key's bytes as the AES key, standard Base64. The key must be 16,
// 24 or 32 bytes; Stratos' application keys are 16 characters.
func EncryptPasswordECB(key, password string) (string, error) {
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		return "", fmt.Errorf("%w: key of %d bytes: %w", ErrPassword, len(key), err)
	}
	pad := aes.BlockSize - len(password)%aes.BlockSize
	buf := make([]byte, len(password)+pad)
	copy(buf, password)
	for i := len(password); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	for i := 0; i < len(buf); i += aes.BlockSize {
		block.Encrypt(buf[i:i+aes.BlockSize], buf[i:i+aes.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}

// DecryptPassword decrypts a repository password in either form: Strata's "gcm:" form, or Stratos'
// AES/ECB/PKCS5 Base64 form (line breaks and spaces in the Base64 text are ignored, as Java's
// decoders ignore them). A wrong key, bad Base64, a failed GCM tag or bad PKCS5 padding is an error
// wrapping ErrPassword; the error never contains the password or the key.
func DecryptPassword(key, text string) (string, error) {
	if rest, ok := strings.CutPrefix(text, PasswordGCMPrefix); ok {
		return decryptGCM(key, rest)
	}
	return decryptECB(key, text)
}

func gcmFor(key string) (cipher.AEAD, error) {
	if key == "" {
		return nil, fmt.Errorf("%w: empty key", ErrPassword)
	}
	k := sha256.Sum256([]byte(key))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPassword, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPassword, err)
	}
	return aead, nil
}

func decryptGCM(key, text string) (string, error) {
	aead, err := gcmFor(key)
	if err != nil {
		return "", err
	}
	raw, err := base64.StdEncoding.DecodeString(stripSpace(text))
	if err != nil {
		return "", fmt.Errorf("%w: gcm form: bad base64: %w", ErrPassword, err)
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("%w: gcm form: %d bytes is too short", ErrPassword, len(raw))
	}
	nonce, sealed := raw[:aead.NonceSize()], raw[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, nil)
	if err != nil {
		return "", fmt.Errorf("%w: gcm form: wrong key or corrupted text", ErrPassword)
	}
	return string(plain), nil
}

func decryptECB(key, text string) (string, error) {
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		return "", fmt.Errorf("%w: key of %d bytes: %w", ErrPassword, len(key), err)
	}
	raw, err := base64.StdEncoding.DecodeString(stripSpace(text))
	if err != nil {
		return "", fmt.Errorf("%w: bad base64: %w", ErrPassword, err)
	}
	if len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return "", fmt.Errorf("%w: %d bytes is not a whole number of AES blocks", ErrPassword, len(raw))
	}
	for i := 0; i < len(raw); i += aes.BlockSize {
		block.Decrypt(raw[i:i+aes.BlockSize], raw[i:i+aes.BlockSize])
	}
	pad := int(raw[len(raw)-1])
	if pad == 0 || pad > aes.BlockSize || !bytes.Equal(raw[len(raw)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return "", fmt.Errorf("%w: bad padding (wrong key?)", ErrPassword)
	}
	return string(raw[:len(raw)-pad]), nil
}

func stripSpace(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}
