package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/lightmetrics/lightmetrics/pkg/config/tomldoc"
)

// checker collects validation errors for one file, each located at its key.
type checker struct {
	file string
	doc  *tomldoc.Doc // nil for a config built in code
	errs []*Error
}

func (c *checker) add(key, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Key: key, Line: c.doc.Line(key), Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) addErr(key string, cause error, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: c.file, Key: key, Line: c.doc.Line(key), Msg: fmt.Sprintf(format, args...), Err: cause})
}

// err returns the collected errors in file order (keys that are not written
// in the file, line 0, last) as one errors.Join, or nil.
func (c *checker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	sort.SliceStable(c.errs, func(i, j int) bool {
		li, lj := c.errs[i].Line, c.errs[j].Line
		if (li == 0) != (lj == 0) {
			return lj == 0
		}
		return li < lj
	})
	errs := make([]error, len(c.errs))
	for i, e := range c.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

func (c *checker) required(key, v string) bool {
	if v == "" {
		if c.doc.Has(key) {
			c.add(key, "must not be empty")
		} else {
			c.add(key, "required")
		}
		return false
	}
	return true
}

func (c *checker) positive(key string, v int64) {
	if v <= 0 {
		c.add(key, "%d must be greater than 0", v)
	}
}

func (c *checker) atLeast(key string, v, min int64) {
	if v < min {
		c.add(key, "%d must be at least %d", v, min)
	}
}

func (c *checker) enum(key, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.add(key, "%q is not one of %s", v, quoteList(allowed))
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// listen checks a listen address: host:port with a numeric port (0 lets the
// system pick, which tests use) and an IP or host name, or no host (every
// interface).
func (c *checker) listen(key, v string) {
	if !c.required(key, v) {
		return
	}
	if err := checkHostPort(v, true); err != nil {
		c.add(key, "%q is not a listen address (host:port, e.g. \"127.0.0.1:9099\"): %v", v, err)
	}
}

func (c *checker) log(prefix string, l Log) {
	c.enum(prefix+"level", l.Level, "debug", "info", "warn", "error")
	c.enum(prefix+"format", l.Format, "text", "json")
}

// hostnamePattern is a DNS name or an IPv4 address; IPv6 is tried first.
var hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$`)

func checkHost(h string) error {
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return nil
	}
	if len(h) > 253 || !hostnamePattern.MatchString(h) {
		return fmt.Errorf("%q is not a host name or IP address", h)
	}
	return nil
}

func checkHostPort(v string, emptyHost bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("missing or malformed port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if host == "" {
		if emptyHost {
			return nil
		}
		return errors.New("host is empty")
	}
	return checkHost(host)
}

// checkEndpoint checks an object-store endpoint: host or host:port, without
// a scheme (secure chooses https or http) or a path.
func checkEndpoint(v string) error {
	if strings.Contains(v, "://") {
		return errors.New("give host:port without a scheme; secure = true/false chooses https or http")
	}
	if strings.ContainsAny(v, "/?#@ ") {
		return errors.New("give host:port only, without a path")
	}
	if _, _, err := net.SplitHostPort(v); err == nil {
		if err := checkHostPort(v, false); err != nil {
			return err
		}
		return nil
	}
	return checkHost(v)
}

// bucketPattern is the S3 bucket naming rule: 3-63 characters of lower-case
// letters, digits, dots and hyphens, beginning and ending with a letter or
// digit.
var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// checkAgentURL checks one agent endpoint: an https URL with a host and no
// credentials, query or fragment (the token travels in a header, never in
// the URL).
func checkAgentURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "https":
		return errors.New("must be an https:// URL: the ingest listener only speaks TLS")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not carry credentials; the token comes from auth_token_file")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return errors.New("must not have a query or fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
	}
	return checkHost(u.Hostname())
}

// labelNamePattern is a Prometheus label name; "__" names are refused
// separately because Prometheus reserves them.
var labelNamePattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// sourcePattern is what a [[logs]] source may be: it becomes a label value
// on every record, so it stays within the collector's value-size floor.
var sourcePattern = regexp.MustCompile(`^[A-Za-z0-9._/:-]{1,64}$`)

// validGlob reports whether pattern is a well-formed filepath.Match pattern.
func validGlob(pattern string) bool {
	_, err := filepath.Match(pattern, "")
	return err == nil
}

// resolvePath makes p absolute relative to base (the config file's
// directory) and cleans it, so that two spellings of one file compare
// equal; "" stays "".
func resolvePath(base, p string) string {
	switch {
	case p == "":
		return p
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	default:
		return filepath.Join(base, p)
	}
}

// baseDir is the absolute directory of the config file name.
func baseDir(name string) string {
	dir := filepath.Dir(name)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}
