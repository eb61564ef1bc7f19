package databridge

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certificate file names in the data dir.
const (
	CertFile = "databridge-cert.pem"
	KeyFile  = "databridge-key.pem"
	// RSACertFile and RSAKeyFile hold the RSA certificate of the legacy TLS suites (see
	// ServerOptions.LegacyTLS).
	RSACertFile = "databridge-rsa-cert.pem"
	RSAKeyFile  = "databridge-rsa-key.pem"
)

// LoadOrCreateCertificate loads dir/databridge-cert.pem and dir/databridge-key.pem, or, when
// neither exists, generates a self-signed ECDSA P-256 certificate for localhost, 127.0.0.1, ::1,
// the machine's host name and hosts, valid ten years, and writes it there (the key 0600).
func LoadOrCreateCertificate(dir string, hosts ...string) (tls.Certificate, error) {
	return loadOrCreate(dir, CertFile, KeyFile, func() (crypto.Signer, error) {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}, hosts)
}

// LoadOrCreateRSACertificate is LoadOrCreateCertificate with an RSA 2048 key, in
// dir/databridge-rsa-cert.pem and dir/databridge-rsa-key.pem: the legacy suites the Stratos Python
// agent negotiates (AES256-SHA, ECDHE-RSA-AES256-SHA) authenticate the server with RSA.
func LoadOrCreateRSACertificate(dir string, hosts ...string) (tls.Certificate, error) {
	return loadOrCreate(dir, RSACertFile, RSAKeyFile, func() (crypto.Signer, error) {
		return rsa.GenerateKey(rand.Reader, 2048)
	}, hosts)
}

func loadOrCreate(dir, certFile, keyFile string, newKey func() (crypto.Signer, error), hosts []string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		return cert, nil
	}
	_, errC := os.Stat(certPath)
	_, errK := os.Stat(keyPath)
	if !errors.Is(errC, fs.ErrNotExist) || !errors.Is(errK, fs.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("databridge: load certificate from %s: %w", dir, err)
	}
	key, err := newKey()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("databridge: generate key: %w", err)
	}
	certPEM, keyPEM, err := selfSigned(key, hosts)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("databridge: create certificate dir: %w", err)
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("databridge: write key: %w", err)
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("databridge: write certificate: %w", err)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func selfSigned(key crypto.Signer, hosts []string) (certPEM, keyPEM []byte, err error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("databridge: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "strata data bridge", Organization: []string{"Strata"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment // the RSA key exchange
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("databridge: create certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("databridge: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// ServerTLS is a server configuration for the secure port: TLS 1.2 or later with cert.
func ServerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// ClientTLS is a client configuration that trusts exactly cert (e.g. the receiver's self-signed
// certificate, copied from its data dir).
func ClientTLS(cert tls.Certificate) (*tls.Config, error) {
	pool := x509.NewCertPool()
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("databridge: parse certificate: %w", err)
		}
		pool.AddCert(c)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// StaticCredentials is an Authenticate func accepting exactly one user and password, compared in
// constant time.
func StaticCredentials(user, password string) func(ctx context.Context, user, password string) error {
	return func(_ context.Context, u, p string) error {
		okU := subtle.ConstantTimeCompare([]byte(u), []byte(user))
		okP := subtle.ConstantTimeCompare([]byte(p), []byte(password))
		if okU&okP != 1 {
			return ErrAuthentication
		}
		return nil
	}
}

// CAFileTLS is the TLS configuration of a client of the receiver's secure service. With caFile,
// the receiver's certificate must chain to a PEM certificate in it. Without, it is not verified,
// as the Stratos load balancer and agents do not verify the CEP (and `strata up` generates a
// self-signed certificate).
func CAFileTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, nil
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
