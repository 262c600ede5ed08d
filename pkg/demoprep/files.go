package demoprep

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/lightmetrics/lightmetrics/pkg/atomicfile"
	"github.com/lightmetrics/lightmetrics/pkg/tlsutil"
	"github.com/lightmetrics/lightmetrics/pkg/tokens"
)

// readToken returns the trimmed token in path, "" when the file is absent or
// blank. A file holding something the collector would not accept as a token
// is an error rather than silently replaced; the error never quotes it.
func readToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("demoprep: read token: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "", nil
	}
	s, err := tokens.LoadSecret(path)
	if err != nil {
		return "", fmt.Errorf("demoprep: existing token file is not usable (remove it to have a new token generated): %w", err)
	}
	return s.Value(), nil
}

// sanHosts are the names the ingest certificate answers to: the loopback
// address and name, plus the host the ingest listener was given.
func (p *prep) sanHosts() []string {
	hosts := []string{"127.0.0.1", "localhost"}
	if h := dialHost(p.ingestHost); h != "127.0.0.1" && h != "localhost" {
		hosts = append(hosts, h)
	}
	return hosts
}

// certs keeps the existing CA and server certificate when they still serve
// the demo, or issues a new pair, and reports whether an earlier pair was
// replaced. The CA's private key is never written: the CA signs one server
// certificate and is then useless to anyone who reads the directory.
func (p *prep) certs() (renewed bool, err error) {
	hosts := p.sanHosts()
	existed := false
	for _, f := range []string{caFile, certFile, keyFile} {
		if _, err := os.Stat(p.path(f)); err == nil {
			existed = true
		}
	}
	if existed && p.certsUsable(hosts) == nil {
		if err := os.Chmod(p.path(keyFile), 0o600); err != nil {
			return false, fmt.Errorf("demoprep: key file: %w", err)
		}
		return false, nil
	}
	ca, err := tlsutil.GenerateCAAt(p.now, "Lightmetrics demo CA "+p.now.UTC().Format("2006-01-02T15:04Z"), certValidity)
	if err != nil {
		return false, fmt.Errorf("demoprep: %w", err)
	}
	leaf, err := tlsutil.IssueServerCertAt(p.now, ca, hosts, certValidity)
	if err != nil {
		return false, fmt.Errorf("demoprep: %w", err)
	}
	// Key, then chain, then CA: if a run dies half way the three no longer
	// match, certsUsable notices and the next run starts over.
	if err := tlsutil.WriteKeyPEM(p.path(keyFile), leaf.Key); err != nil {
		return false, fmt.Errorf("demoprep: %w", err)
	}
	if err := tlsutil.WriteCertPEM(p.path(certFile), leaf.Cert); err != nil {
		return false, fmt.Errorf("demoprep: %w", err)
	}
	if err := tlsutil.WriteCertPEM(p.path(caFile), ca.Cert); err != nil {
		return false, fmt.Errorf("demoprep: %w", err)
	}
	return existed, nil
}

// certsUsable says why the certificate files on disk cannot be reused, or
// nil: the key must match the chain, the chain must verify against ca.pem
// for every host, and nothing may expire within renewBefore.
func (p *prep) certsUsable(hosts []string) error {
	cas, err := tlsutil.ReadCertFile(p.path(caFile))
	if err != nil {
		return err
	}
	if _, err := tls.LoadX509KeyPair(p.path(certFile), p.path(keyFile)); err != nil {
		return err
	}
	chain, err := tlsutil.ReadCertFile(p.path(certFile))
	if err != nil {
		return err
	}
	deadline := p.now.Add(renewBefore)
	for _, c := range append(cas, chain...) {
		if !c.NotAfter.After(deadline) {
			return fmt.Errorf("certificate %q expires at %s", c.Subject.CommonName, c.NotAfter)
		}
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, h := range hosts {
		_, err := chain[0].Verify(x509.VerifyOptions{
			DNSName:       h,
			Roots:         roots,
			Intermediates: inter,
			CurrentTime:   p.now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// touch creates path empty unless it exists; an existing demo log keeps its
// lines, since the agent's saved offset points into them.
func touch(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("demoprep: create log file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("demoprep: create log file: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data; see atomicfile.Write.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := atomicfile.Write(path, data, perm); err != nil {
		return fmt.Errorf("demoprep: %w", err)
	}
	return nil
}
