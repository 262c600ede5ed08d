// Package tlsutil holds the TLS pieces both roles share: a server certificate
// that can be swapped without a restart, a client configuration that trusts a
// private CA, and the throwaway development PKI the lab demo uses.
//
// Every configuration it builds refuses anything older than TLS 1.2.
package tlsutil

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sync"
	"time"
)

// Reloader serves the certificate pair found in two files and re-reads them on
// demand (SIGHUP) or when they change on disk (Watch). A handshake always sees
// one complete, matching pair: the new pair replaces the old one only after it
// has been read and checked in full, so a half-written renewal is never served.
// Connections already established keep the certificate they negotiated.
type Reloader struct {
	certFile, keyFile string

	mu      sync.RWMutex
	current *tls.Certificate
	stamp   pairStamp // of the files that produced current
	status  Status
}

// Status describes what a Reloader is serving and how its last load went.
type Status struct {
	Serial    *big.Int  // serial number of the leaf certificate being served
	NotAfter  time.Time // expiry of the leaf certificate being served
	LoadedAt  time.Time // when the served pair was read
	Reloads   int       // successful loads after the first
	LastError error     // error of the most recent load attempt; nil when it succeeded
}

// ServerConfig loads the certificate chain in certFile and its private key in
// keyFile and returns a Reloader serving them.
func ServerConfig(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// TLSConfig returns a fresh server configuration (the caller may change it)
// whose certificate is looked up on every handshake, so a Reload takes effect
// for the next connection without touching the listener.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: r.getCertificate,
	}
}

func (r *Reloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current, nil
}

// Status reports the pair being served and the outcome of the last load.
func (r *Reloader) Status() Status {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.status
}

// Reload re-reads both files. On any failure the pair being served stays in
// place and the returned error names the file at fault.
func (r *Reloader) Reload() error {
	stamp, _ := statPair(r.certFile, r.keyFile) // best effort: only used to spot later changes
	cert, err := loadPair(r.certFile, r.keyFile)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.LastError = err
	if err != nil {
		return err
	}
	if r.current != nil {
		r.status.Reloads++
	}
	r.current = cert
	r.stamp = stamp
	r.status.Serial = cert.Leaf.SerialNumber
	r.status.NotAfter = cert.Leaf.NotAfter
	r.status.LoadedAt = time.Now()
	return nil
}

// Watch polls the two files every interval and reloads when either one's
// size, modification time or identity (a rename over it) changes. It returns
// when ctx ends. A failed reload is retried on every tick until the files
// load, which covers a renewal caught between writing the certificate and the
// key; the failure is visible in Status meanwhile.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stamp, err := statPair(r.certFile, r.keyFile)
		r.mu.RLock()
		same := err == nil && stamp.equal(r.stamp)
		failing := r.status.LastError != nil
		r.mu.RUnlock()
		if same && !failing {
			continue
		}
		if err != nil {
			r.mu.Lock()
			r.status.LastError = err
			r.mu.Unlock()
			continue
		}
		_ = r.Reload() // the error is kept in Status; the old pair stays served
	}
}

// loadPair reads and checks a certificate chain and key, naming the file at
// fault in every error.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: read certificate: %w", err)
	}
	if _, err := parseCertsPEM(certPEM); err != nil {
		return nil, fmt.Errorf("tlsutil: certificate file %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: read key: %w", err)
	}
	if !bytes.Contains(keyPEM, []byte("PRIVATE KEY-----")) {
		return nil, fmt.Errorf("tlsutil: key file %s: no PEM private key found", keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The chain parsed above, so what is left is the key itself or a key
		// that belongs to another certificate.
		return nil, fmt.Errorf("tlsutil: key file %s (for certificate %s): %w", keyFile, certFile, err)
	}
	return &cert, nil
}

// parseCertsPEM returns every CERTIFICATE block in data, failing when there is
// none or one does not parse.
func parseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// pairStamp identifies the on-disk state of the certificate and key files.
type pairStamp struct {
	cert, key os.FileInfo
}

func statPair(certFile, keyFile string) (pairStamp, error) {
	c, err := os.Stat(certFile)
	if err != nil {
		return pairStamp{}, fmt.Errorf("tlsutil: watch certificate: %w", err)
	}
	k, err := os.Stat(keyFile)
	if err != nil {
		return pairStamp{}, fmt.Errorf("tlsutil: watch key: %w", err)
	}
	return pairStamp{cert: c, key: k}, nil
}

func (s pairStamp) equal(o pairStamp) bool {
	return sameFile(s.cert, o.cert) && sameFile(s.key, o.key)
}

func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return false
	}
	// os.SameFile catches a renewal renamed over the old file even when the
	// size and the (coarse) timestamp happen to match.
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
