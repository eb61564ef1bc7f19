package model

import (
	"crypto/aes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// javaECB encrypts as Java's Cipher.getInstance("AES/ECB/PKCS5Padding") does, written out by
// hand so the test does not trust EncryptPasswordECB.
func javaECB(t *testing.T, key, plain string) string {
	t.Helper()
	b, err := aes.NewCipher([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	pad := 16 - len(plain)%16
	buf := []byte(plain + strings.Repeat(string(rune(pad)), pad))
	out := make([]byte, len(buf))
	for i := 0; i < len(buf); i += 16 {
		b.Encrypt(out[i:i+16], buf[i:i+16])
	}
	return base64.StdEncoding.EncodeToString(out)
}

func TestDecryptPasswordStratosForm(t *testing.T) {
	const key = "abcdefghijklmnop"
	tests := []struct {
		name   string
		cipher string
		want   string
	}{
		// Vectors from `openssl enc -aes-128-ecb -K <hex key> -base64`.
		{name: "openssl vector", cipher: "OX1MdW43Pi5yGtK8zlwriA==", want: "gitpassword"},
		{name: "empty password", cipher: "jmTOhz8XTbskI/zYFFgOFQ==", want: ""},
		{name: "one block exactly", cipher: javaECB(t, key, "0123456789abcdef"), want: "0123456789abcdef"},
		{name: "long", cipher: javaECB(t, key, strings.Repeat("pässwörd-", 9)), want: strings.Repeat("pässwörd-", 9)},
		{name: "chunked base64", cipher: "OX1MdW43Pi5y\r\nGtK8zlwriA==\r\n", want: "gitpassword"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecryptPassword(key, tt.cipher)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEncryptPasswordECBMatchesJava(t *testing.T) {
	const key = "abcdefghijklmnop"
	for _, p := range []string{"", "a", "gitpassword", "0123456789abcdef", "0123456789abcdefg"} {
		got, err := EncryptPasswordECB(key, p)
		if err != nil {
			t.Fatal(err)
		}
		if want := javaECB(t, key, p); got != want {
			t.Errorf("EncryptPasswordECB(%q) = %s, want %s", p, got, want)
		}
	}
}

func TestEncryptPasswordGCMRoundTrip(t *testing.T) {
	const key = "abcdefghijklmnop"
	for _, p := range []string{"", "gitpassword", strings.Repeat("x", 1000)} {
		c1, err := EncryptPassword(key, p)
		if err != nil {
			t.Fatal(err)
		}
		c2, _ := EncryptPassword(key, p)
		if !strings.HasPrefix(c1, PasswordGCMPrefix) {
			t.Fatalf("no prefix: %s", c1)
		}
		if c1 == c2 {
			t.Error("two encryptions are equal: the nonce is not random")
		}
		got, err := DecryptPassword(key, c1)
		if err != nil {
			t.Fatal(err)
		}
		if got != p {
			t.Errorf("round trip %q gave %q", p, got)
		}
	}
}

func TestDecryptPasswordErrors(t *testing.T) {
	const key = "abcdefghijklmnop"
	gcm, _ := EncryptPassword(key, "secret")
	tampered := []byte(gcm)
	tampered[len(tampered)-3] ^= 1
	if tampered[len(tampered)-3] == '=' {
		tampered[len(tampered)-3] = 'A'
	}
	tests := []struct {
		name string
		key  string
		text string
	}{
		{name: "ecb wrong key", key: "ponmlkjihgfedcba", text: "OX1MdW43Pi5yGtK8zlwriA=="},
		{name: "ecb short key", key: "short", text: "OX1MdW43Pi5yGtK8zlwriA=="},
		{name: "ecb bad base64", key: key, text: "not base64!"},
		{name: "ecb partial block", key: key, text: base64.StdEncoding.EncodeToString([]byte("12345"))},
		{name: "ecb empty", key: key, text: ""},
		{name: "gcm wrong key", key: "ponmlkjihgfedcba", text: gcm},
		{name: "gcm tampered", key: key, text: string(tampered)},
		{name: "gcm too short", key: key, text: "gcm:AAAA"},
		{name: "gcm empty key", key: "", text: gcm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecryptPassword(tt.key, tt.text)
			if !errors.Is(err, ErrPassword) {
				t.Fatalf("got %q, %v; want an ErrPassword", got, err)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), key) {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func FuzzDecryptPassword(f *testing.F) {
	f.Add("abcdefghijklmnop", "OX1MdW43Pi5yGtK8zlwriA==")
	f.Add("abcdefghijklmnop", "gcm:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, key, text string) {
		_, _ = DecryptPassword(key, text)
	})
}
