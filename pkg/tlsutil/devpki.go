package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/lightmetrics/lightmetrics/pkg/atomicfile"
)

// The development PKI below exists for the lab demo only: short-lived, ECDSA
// P-256, no revocation, no intermediates. Real installs bring their own
// certificates.

// clockSkew backdates NotBefore so a peer whose clock runs a little behind
// does not reject a certificate issued a moment ago.
const clockSkew = 5 * time.Minute

// KeyPair is a certificate with its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// CertPEM returns the certificate PEM-encoded.
func (k *KeyPair) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})
}

// KeyPEM returns the private key PEM-encoded as PKCS #8.
func (k *KeyPair) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// GenerateCA creates a self-signed CA valid from now for validity.
func GenerateCA(commonName string, validity time.Duration) (*KeyPair, error) {
	return GenerateCAAt(time.Now(), commonName, validity)
}

// GenerateCAAt is GenerateCA with the clock passed in, so callers that take an
// injected clock issue certificates consistent with it.
func GenerateCAAt(now time.Time, commonName string, validity time.Duration) (*KeyPair, error) {
	if validity <= 0 {
		return nil, errors.New("tlsutil: generate CA: validity must be positive")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Lightmetrics development CA"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs leaves only
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: parse CA certificate: %w", err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// IssueServerCert signs a server certificate for hosts (IP addresses and DNS
// names, each becoming a subject alternative name) with ca, valid from now for
// validity but never beyond the CA's own expiry.
func IssueServerCert(ca *KeyPair, hosts []string, validity time.Duration) (*KeyPair, error) {
	return IssueServerCertAt(time.Now(), ca, hosts, validity)
}

// IssueServerCertAt is IssueServerCert with the clock passed in.
func IssueServerCertAt(now time.Time, ca *KeyPair, hosts []string, validity time.Duration) (*KeyPair, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("tlsutil: issue server certificate: no CA")
	}
	if len(hosts) == 0 {
		return nil, errors.New("tlsutil: issue server certificate: no hosts")
	}
	if validity <= 0 {
		return nil, errors.New("tlsutil: issue server certificate: validity must be positive")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: generate server key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0]},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(seen) == 0 {
		return nil, errors.New("tlsutil: issue server certificate: no hosts")
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: create server certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: parse server certificate: %w", err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

func newSerial() (*big.Int, error) {
	// 128 random bits: unique enough that a renewed certificate never reuses
	// a serial, which the reload tests rely on to tell pairs apart.
	max := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return nil, fmt.Errorf("tlsutil: serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

// WriteCertPEM writes certs, in order, to path with mode 0644 (certificates
// are public), replacing any previous file atomically.
func WriteCertPEM(path string, certs ...*x509.Certificate) error {
	if len(certs) == 0 {
		return fmt.Errorf("tlsutil: write %s: no certificates", path)
	}
	blocks := make([]*pem.Block, 0, len(certs))
	for _, c := range certs {
		blocks = append(blocks, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return WritePEM(path, 0o644, blocks...)
}

// WriteKeyPEM writes key as PKCS #8 to path with mode 0600, replacing any
// previous file atomically.
func WriteKeyPEM(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlsutil: write %s: marshal key: %w", path, err)
	}
	return WritePEM(path, 0o600, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// WritePEM writes blocks to path with mode perm. The data goes to a temporary
// file in the same directory that is synced and then renamed over path, so a
// reader (a Reloader, a crash) sees either the old file or the new one, never
// a torn one; the temporary file is created 0600 so a key is never briefly
// readable by others.
func WritePEM(path string, perm os.FileMode, blocks ...*pem.Block) error {
	var data []byte
	for _, b := range blocks {
		data = append(data, pem.EncodeToMemory(b)...)
	}
	if err := atomicfile.Write(path, data, perm); err != nil {
		return fmt.Errorf("tlsutil: %w", err)
	}
	return nil
}

// ReadCertFile returns every certificate in a PEM file, in order.
func ReadCertFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: read certificate: %w", err)
	}
	certs, err := parseCertsPEM(data)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: certificate file %s: %w", path, err)
	}
	return certs, nil
}

// CertExpiresWithin reports whether any certificate in certFile expires
// within d from now (or already has), so a caller can renew ahead of time.
func CertExpiresWithin(certFile string, d time.Duration) (bool, error) {
	certs, err := ReadCertFile(certFile)
	if err != nil {
		return false, err
	}
	deadline := time.Now().Add(d)
	for _, c := range certs {
		if !c.NotAfter.After(deadline) {
			return true, nil
		}
	}
	return false, nil
}
