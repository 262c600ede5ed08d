package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"

	"github.com/lightmetrics/lightmetrics/pkg/tokens"
)

// CheckFiles checks the files a collector reads at startup, as check-config
// must: the ingest certificate and key (readable, PEM, a matching pair), the
// ingest token table (parsed, see tokens.LoadTable), the query token file,
// the query certificate pair when set, and the object-store CA and
// credential files when set. It neither creates nor opens directories.
// Problems with a file's existence or access are reported against the
// server.toml key that names it; problems inside the token table are that
// file's own *Error values.
func CheckFiles(s *Server) error {
	c := &checker{file: s.Path, doc: s.doc}
	c.keyPair("ingest.tls", s.Ingest.TLS)
	if s.Ingest.TokenFile != "" {
		if _, err := tokens.LoadTable(s.Ingest.TokenFile); err != nil {
			var te *Error
			if errors.As(err, &te) && te.File == s.Ingest.TokenFile {
				for _, e := range unjoin(err) {
					if errors.As(e, &te) {
						c.errs = append(c.errs, te)
					}
				}
			} else {
				c.addErr("ingest.token_file", err, "%s", cleanTokensErr(err))
			}
		}
	}
	c.secret("query.token_file", s.Query.TokenFile, tokens.LoadSecret)
	if s.Query.TLS.Enabled() {
		c.keyPair("query.tls", s.Query.TLS)
	}
	if o := s.ObjectStore; o != nil {
		c.caFile("object_store.ca_file", o.CAFile)
		c.secret("object_store.access_key_file", o.AccessKeyFile, tokens.LoadCredential)
		c.secret("object_store.secret_key_file", o.SecretKeyFile, tokens.LoadCredential)
	}
	return c.err()
}

// CheckFiles checks the files the agent reads: its token file and, when
// set, the CA bundle it trusts the collector with.
func (a *Agent) CheckFiles() error {
	c := &checker{file: a.Path, doc: a.doc}
	c.secret("auth_token_file", a.AuthTokenFile, tokens.LoadSecret)
	c.caFile("tls_ca_cert_file", a.TLSCACertFile)
	return c.err()
}

// FileModeWarnings returns a *tokens.ModeError for each secret file of the
// collector (token files, TLS keys, object-store credentials) that others
// can read. They are warnings for the log, not reasons to refuse to start.
func (s *Server) FileModeWarnings() []error {
	paths := []string{s.Ingest.TokenFile, s.Ingest.TLS.KeyFile, s.Query.TokenFile, s.Query.TLS.KeyFile}
	if o := s.ObjectStore; o != nil {
		paths = append(paths, o.AccessKeyFile, o.SecretKeyFile)
	}
	return modeWarnings(paths)
}

// FileModeWarnings returns a *tokens.ModeError when the agent's token file
// is readable by others.
func (a *Agent) FileModeWarnings() []error { return modeWarnings([]string{a.AuthTokenFile}) }

func modeWarnings(paths []string) []error {
	var out []error
	for _, p := range paths {
		if p == "" {
			continue
		}
		var me *tokens.ModeError
		if err := tokens.CheckMode(p); errors.As(err, &me) {
			out = append(out, me)
		}
	}
	return out
}

func (c *checker) secret(key, path string, load func(string) (tokens.Secret, error)) {
	if path == "" {
		return
	}
	if _, err := load(path); err != nil {
		c.addErr(key, err, "%s", cleanTokensErr(err))
	}
}

func (c *checker) readFile(key, path string) ([]byte, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		c.addErr(key, err, "cannot read %s: %v", path, unwrapPath(err))
		return nil, false
	}
	return data, true
}

func (c *checker) keyPair(prefix string, t TLS) {
	if t.CertFile == "" || t.KeyFile == "" {
		return // Validate already reported it
	}
	cert, okCert := c.readFile(prefix+".cert_file", t.CertFile)
	key, okKey := c.readFile(prefix+".key_file", t.KeyFile)
	if !okCert || !okKey {
		return
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		c.addErr(prefix+".cert_file", err, "%s and %s are not a usable certificate and key: %s",
			t.CertFile, t.KeyFile, strings.TrimPrefix(err.Error(), "tls: "))
	}
}

func (c *checker) caFile(key, path string) {
	if path == "" {
		return
	}
	data, ok := c.readFile(key, path)
	if ok && !x509.NewCertPool().AppendCertsFromPEM(data) {
		c.add(key, "%s holds no PEM certificate", path)
	}
}

// cleanTokensErr drops the package prefix and the "read open" wording from
// a pkg/tokens error for a message that already names the key.
func cleanTokensErr(err error) string {
	msg := strings.TrimPrefix(err.Error(), "tokens: ")
	msg = strings.TrimPrefix(msg, "load table: ")
	msg = strings.TrimPrefix(msg, "read ")
	if strings.HasPrefix(msg, "open ") {
		msg = "cannot read " + strings.TrimPrefix(msg, "open ")
	}
	return msg
}
