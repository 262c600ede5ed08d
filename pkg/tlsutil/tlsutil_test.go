package tlsutil

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pki is a dev CA plus the files a server reads.
type pki struct {
	ca                        *KeyPair
	caFile, certFile, keyFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := GenerateCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{
		ca:       ca,
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "cert.pem"),
		keyFile:  filepath.Join(dir, "key.pem"),
	}
	if err := WriteCertPEM(p.caFile, ca.Cert); err != nil {
		t.Fatal(err)
	}
	p.issue(t)
	return p
}

// issue writes a fresh server pair for 127.0.0.1 and returns its serial.
func (p *pki) issue(t *testing.T) *big.Int {
	t.Helper()
	kp, err := IssueServerCert(p.ca, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteCertPEM(p.certFile, kp.Cert); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPEM(p.keyFile, kp.Key); err != nil {
		t.Fatal(err)
	}
	return kp.Cert.SerialNumber
}

// echoServer accepts TLS connections and echoes lines back until closed.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func dial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return tls.DialWithDialer(d, "tcp", addr, cfg)
}

func echo(t *testing.T, c *tls.Conn) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatalf("write on open connection: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("echo on open connection = %q, %v", line, err)
	}
}

func servedSerial(t *testing.T, addr string, cfg *tls.Config) (*big.Int, *tls.Conn) {
	t.Helper()
	c, err := dial(addr, cfg)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber, c
}

func TestHandshake(t *testing.T) {
	p := newPKI(t)
	r, err := ServerConfig(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := r.TLSConfig()
	if srv.MinVersion != tls.VersionTLS12 || strings.Join(srv.NextProtos, ",") != "h2,http/1.1" {
		t.Fatalf("TLSConfig: min %x, ALPN %v; want TLS 1.2 and h2,http/1.1", srv.MinVersion, srv.NextProtos)
	}
	addr := echoServer(t, srv)

	trusted, err := ClientConfig(p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	system, err := ClientConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if system.RootCAs != nil || system.MinVersion != tls.VersionTLS12 {
		t.Fatalf("ClientConfig(\"\") = roots %v, min %x; want system roots, TLS 1.2", system.RootCAs, system.MinVersion)
	}
	old := trusted.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11

	h2 := trusted.Clone()
	h2.NextProtos = []string{"h2", "http/1.1"}

	tests := []struct {
		name      string
		cfg       *tls.Config
		wantErr   string // substring; "" = handshake succeeds
		wantProto string
	}{
		{name: "private CA trusted", cfg: trusted},
		{name: "h2 negotiated", cfg: h2, wantProto: "h2"},
		{name: "system roots do not know the dev CA", cfg: system, wantErr: "unknown authority"},
		{name: "TLS 1.1 refused", cfg: old, wantErr: "protocol version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dial(addr, tt.cfg)
			if tt.wantErr != "" {
				if err == nil {
					c.Close()
					t.Fatalf("handshake succeeded, want error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("handshake error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer c.Close()
			st := c.ConnectionState()
			if st.Version < tls.VersionTLS12 {
				t.Fatalf("negotiated version %x, want >= TLS 1.2", st.Version)
			}
			if st.NegotiatedProtocol != tt.wantProto {
				t.Fatalf("ALPN = %q, want %q", st.NegotiatedProtocol, tt.wantProto)
			}
			echo(t, c)
		})
	}
}

func TestReloadSwapsForNewConnectionsOnly(t *testing.T) {
	p := newPKI(t)
	r, err := ServerConfig(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, r.TLSConfig())
	client, err := ClientConfig(p.caFile)
	if err != nil {
		t.Fatal(err)
	}

	first, before := servedSerial(t, addr, client)
	defer before.Close()
	echo(t, before)

	second := p.issue(t)
	if second.Cmp(first) == 0 {
		t.Fatal("test setup: reissued certificate has the same serial")
	}
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	got, after := servedSerial(t, addr, client)
	defer after.Close()
	if got.Cmp(second) != 0 {
		t.Fatalf("new connection sees serial %v, want the reloaded %v", got, second)
	}
	echo(t, before) // the connection opened before the reload still works
	echo(t, after)
	if st := r.Status(); st.Reloads != 1 || st.Serial.Cmp(second) != 0 || st.LastError != nil {
		t.Fatalf("Status = %+v, want 1 reload serving %v", st, second)
	}
}

func TestFailedReloadKeepsOldPair(t *testing.T) {
	other, err := GenerateCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, p *pki)
		names  func(p *pki) string // the file the error must name
	}{
		{
			name:   "key not PEM",
			damage: func(t *testing.T, p *pki) { write(t, p.keyFile, "not a key") },
			names:  func(p *pki) string { return p.keyFile },
		},
		{
			name: "key of another certificate",
			damage: func(t *testing.T, p *pki) {
				if err := WriteKeyPEM(p.keyFile, other.Key); err != nil {
					t.Fatal(err)
				}
			},
			names: func(p *pki) string { return p.keyFile },
		},
		{
			name:   "key missing",
			damage: func(t *testing.T, p *pki) { remove(t, p.keyFile) },
			names:  func(p *pki) string { return p.keyFile },
		},
		{
			name: "certificate garbage",
			damage: func(t *testing.T, p *pki) {
				write(t, p.certFile, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
			},
			names: func(p *pki) string { return p.certFile },
		},
		{
			name:   "certificate empty",
			damage: func(t *testing.T, p *pki) { write(t, p.certFile, "") },
			names:  func(p *pki) string { return p.certFile },
		},
		{
			name:   "certificate missing",
			damage: func(t *testing.T, p *pki) { remove(t, p.certFile) },
			names:  func(p *pki) string { return p.certFile },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPKI(t)
			r, err := ServerConfig(p.certFile, p.keyFile)
			if err != nil {
				t.Fatal(err)
			}
			addr := echoServer(t, r.TLSConfig())
			client, err := ClientConfig(p.caFile)
			if err != nil {
				t.Fatal(err)
			}
			want, c := servedSerial(t, addr, client)
			c.Close()

			tt.damage(t, p)
			err = r.Reload()
			if err == nil {
				t.Fatal("Reload of a broken pair succeeded")
			}
			if !strings.Contains(err.Error(), tt.names(p)) {
				t.Fatalf("Reload error %q does not name %s", err, tt.names(p))
			}
			if st := r.Status(); st.LastError == nil {
				t.Fatal("Status.LastError is nil after a failed reload")
			}
			got, c := servedSerial(t, addr, client)
			c.Close()
			if got.Cmp(want) != 0 {
				t.Fatalf("after failed reload serial = %v, want the old %v", got, want)
			}
			if _, err := ServerConfig(p.certFile, p.keyFile); err == nil {
				t.Fatal("ServerConfig accepted the broken pair")
			}
		})
	}
}

func TestWatchReloadsOnChange(t *testing.T) {
	p := newPKI(t)
	r, err := ServerConfig(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Status().Serial
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Watch(ctx, 5*time.Millisecond)
	}()
	defer func() {
		cancel()
		<-done // Watch returns once ctx ends
	}()

	// A renewal caught half way (new certificate, old key) must not be
	// served, and must be picked up once the key follows.
	kp, err := IssueServerCert(p.ca, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteCertPEM(p.certFile, kp.Cert); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the half-written pair to be rejected", func() bool { return r.Status().LastError != nil })
	if got := r.Status().Serial; got.Cmp(first) != 0 {
		t.Fatalf("serving %v while the key does not match, want the old %v", got, first)
	}
	if err := WriteKeyPEM(p.keyFile, kp.Key); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new pair to be served", func() bool {
		st := r.Status()
		return st.Serial.Cmp(kp.Cert.SerialNumber) == 0 && st.LastError == nil
	})
}

// waitFor polls cond; the generous limit only stops a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestClientConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	write(t, empty, "")
	keyOnly := filepath.Join(dir, "key-only.pem")
	ca, err := GenerateCA("x", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPEM(keyOnly, ca.Key); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, f := range []string{empty, keyOnly, missing} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := ClientConfig(f)
			if err == nil || !strings.Contains(err.Error(), f) {
				t.Fatalf("ClientConfig(%s) error = %v, want one naming the file", f, err)
			}
		})
	}
}

func TestIssueServerCertSANs(t *testing.T) {
	ca, err := GenerateCA("test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := IssueServerCert(ca, []string{"127.0.0.1", "localhost", "::1", "collector.lab", "localhost"}, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := kp.Cert
	if len(c.IPAddresses) != 2 || len(c.DNSNames) != 2 {
		t.Fatalf("SANs = IPs %v, DNS %v; want 2 IPs and 2 deduplicated names", c.IPAddresses, c.DNSNames)
	}
	if c.NotAfter.After(ca.Cert.NotAfter) {
		t.Fatalf("server certificate outlives its CA: %v > %v", c.NotAfter, ca.Cert.NotAfter)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, host := range []string{"127.0.0.1", "::1", "localhost", "collector.lab"} {
		if _, err := c.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{DNSName: "elsewhere.lab", Roots: pool}); err == nil {
		t.Error("certificate verified for a host it was not issued for")
	}
	if _, err := IssueServerCert(ca, nil, time.Hour); err == nil {
		t.Error("IssueServerCert with no hosts succeeded")
	}
	if c.PublicKeyAlgorithm != x509.ECDSA || kp.Key.Curve.Params().Name != "P-256" {
		t.Errorf("key = %v %s, want ECDSA P-256", c.PublicKeyAlgorithm, kp.Key.Curve.Params().Name)
	}
}

func TestWritePEMModesAndExpiry(t *testing.T) {
	dir := t.TempDir()
	ca, err := GenerateCA("test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	for i := 0; i < 2; i++ { // the second round replaces existing files
		if err := WriteCertPEM(certFile, ca.Cert); err != nil {
			t.Fatal(err)
		}
		if err := WriteKeyPEM(keyFile, ca.Key); err != nil {
			t.Fatal(err)
		}
	}
	for f, want := range map[string]os.FileMode{certFile: 0o644, keyFile: 0o600} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", f, fi.Mode().Perm(), want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("dir holds %d entries, want 2 (no temporary files left behind)", len(entries))
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Errorf("written pair does not load: %v", err)
	}

	tests := []struct {
		within time.Duration
		want   bool
	}{
		{time.Hour, false},
		{23 * time.Hour, false},
		{25 * time.Hour, true},
		{-time.Hour, false},
	}
	for _, tt := range tests {
		got, err := CertExpiresWithin(certFile, tt.within)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("CertExpiresWithin(%v) = %v, want %v", tt.within, got, tt.want)
		}
	}
	if _, err := CertExpiresWithin(keyFile, time.Hour); err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Errorf("CertExpiresWithin on a key file: error %v, want one naming the file", err)
	}
	var pathErr *os.PathError
	if _, err := CertExpiresWithin(filepath.Join(dir, "none.pem"), time.Hour); !errors.As(err, &pathErr) {
		t.Errorf("CertExpiresWithin on a missing file: error %v, want a path error", err)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
