package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lightmetrics/lightmetrics/pkg/config/tomldoc"
	"github.com/lightmetrics/lightmetrics/pkg/limits"
)

// LoadServer reads, decodes and validates server.toml at path. Keys left out
// take the values of DefaultServer; relative paths are resolved against the
// file's directory. Errors are *Error values (joined when several), naming
// path as given.
func LoadServer(path string) (*Server, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read: %v", unwrapPath(err)), Err: err}
	}
	defer f.Close()
	return ParseServer(path, f)
}

// ParseServer is LoadServer reading from r. name is used in errors and, as
// for LoadServer, its directory anchors relative paths.
func ParseServer(name string, r io.Reader) (*Server, error) {
	data, err := readConfig(name, r)
	if err != nil {
		return nil, err
	}
	s := DefaultServer()
	// Decode into a pre-filled section so its unwritten keys keep their
	// defaults; drop it afterwards if the file has no [object_store].
	s.ObjectStore = DefaultObjectStore()
	doc, err := tomldoc.Decode(name, data, s)
	if err != nil {
		return nil, err
	}
	if !doc.Has("object_store") {
		s.ObjectStore = nil
	}
	s.Path = name
	s.doc = doc
	s.resolvePaths(baseDir(name))
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func readConfig(name string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return nil, &Error{File: name, Msg: fmt.Sprintf("cannot read: %v", err), Err: err}
	}
	if len(data) > maxConfigBytes {
		return nil, &Error{File: name, Msg: fmt.Sprintf("larger than %d MiB; is this the right file?", maxConfigBytes>>20)}
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, &Error{File: name, Msg: "contains NUL bytes; not a TOML file"}
	}
	return data, nil
}

// unwrapPath drops the *PathError's repetition of the path, which the
// *Error already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (s *Server) resolvePaths(base string) {
	s.Ingest.TokenFile = resolvePath(base, s.Ingest.TokenFile)
	s.Ingest.TLS.CertFile = resolvePath(base, s.Ingest.TLS.CertFile)
	s.Ingest.TLS.KeyFile = resolvePath(base, s.Ingest.TLS.KeyFile)
	s.Query.TokenFile = resolvePath(base, s.Query.TokenFile)
	s.Query.TLS.CertFile = resolvePath(base, s.Query.TLS.CertFile)
	s.Query.TLS.KeyFile = resolvePath(base, s.Query.TLS.KeyFile)
	s.Storage.SpoolDir = resolvePath(base, s.Storage.SpoolDir)
	s.Storage.CacheDir = resolvePath(base, s.Storage.CacheDir)
	for i, p := range s.Dashboards.DefinitionFiles {
		s.Dashboards.DefinitionFiles[i] = resolvePath(base, p)
	}
	for i, p := range s.Dashboards.DefinitionDirs {
		s.Dashboards.DefinitionDirs[i] = resolvePath(base, p)
	}
	if o := s.ObjectStore; o != nil {
		o.CAFile = resolvePath(base, o.CAFile)
		o.AccessKeyFile = resolvePath(base, o.AccessKeyFile)
		o.SecretKeyFile = resolvePath(base, o.SecretKeyFile)
	}
}

// Validate checks every value of s: limit floors, enums, addresses,
// positive durations and sizes, required paths and the object-store section.
// LoadServer calls it; call it yourself for a Server built in code.
func (s *Server) Validate() error {
	c := &checker{file: s.Path, doc: s.doc}
	in := &s.Ingest
	c.listen("ingest.listen", in.Listen)
	c.enum("ingest.acceptance", in.Acceptance, AcceptLocalSpool, AcceptS3Manifest)
	if in.Acceptance == AcceptS3Manifest && s.ObjectStore == nil {
		c.add("ingest.acceptance", "%q needs an [object_store] section: the accepted manifest lives in the bucket", AcceptS3Manifest)
	}
	c.positive("ingest.object_landing_interval_ms", in.ObjectLandingIntervalMs)
	if err := s.Limits().CheckFloors(); err != nil {
		for _, e := range unjoin(err) {
			var le *limits.Error
			if errors.As(e, &le) {
				c.add("ingest."+le.Key, "%s", le.Msg)
			}
		}
	}
	c.required("ingest.token_file", in.TokenFile)
	c.positive("ingest.max_body_bytes", in.MaxBodyBytes)
	c.positive("ingest.max_decoded_bytes", in.MaxDecodedBytes)
	c.positive("ingest.max_concurrent_requests", int64(in.MaxConcurrentRequests))
	c.positive("ingest.read_header_timeout_ms", in.ReadHeaderTimeoutMs)
	c.positive("ingest.read_timeout_ms", in.ReadTimeoutMs)
	c.positive("ingest.write_timeout_ms", in.WriteTimeoutMs)
	c.positive("ingest.idle_timeout_ms", in.IdleTimeoutMs)
	c.required("ingest.tls.cert_file", in.TLS.CertFile)
	c.required("ingest.tls.key_file", in.TLS.KeyFile)

	q := &s.Query
	c.listen("query.listen", q.Listen)
	c.required("query.token_file", q.TokenFile)
	c.positive("query.max_samples", int64(q.MaxSamples))
	c.positive("query.timeout_ms", q.TimeoutMs)
	c.positive("query.max_series", int64(q.MaxSeries))
	c.positive("query.lookback_delta_ms", q.LookbackDeltaMs)
	c.positive("query.agent_stale_after_ms", q.AgentStaleAfterMs)
	c.positive("query.agent_down_after_ms", q.AgentDownAfterMs)
	if q.AgentDownAfterMs < q.AgentStaleAfterMs {
		c.add("query.agent_down_after_ms", "%d is below agent_stale_after_ms (%d): an agent turns stale before it is down",
			q.AgentDownAfterMs, q.AgentStaleAfterMs)
	}
	switch {
	case q.TLS.CertFile != "" && q.TLS.KeyFile == "":
		c.add("query.tls.key_file", "required when query.tls.cert_file is set")
	case q.TLS.CertFile == "" && q.TLS.KeyFile != "":
		c.add("query.tls.cert_file", "required when query.tls.key_file is set")
	}

	st := &s.Storage
	c.required("storage.spool_dir", st.SpoolDir)
	c.required("storage.cache_dir", st.CacheDir)
	if st.SpoolDir != "" && st.SpoolDir == st.CacheDir {
		c.add("storage.cache_dir", "must differ from storage.spool_dir")
	}
	c.atLeast("storage.spool_max_bytes", st.SpoolMaxBytes, 0)
	c.positive("storage.retention_hours", int64(st.RetentionHours))
	c.positive("storage.cache_max_bytes", st.CacheMaxBytes)

	for i, p := range s.Dashboards.DefinitionFiles {
		if p == "" {
			c.add(fmt.Sprintf("dashboards.definition_files[%d]", i), "must not be empty")
		}
	}
	for i, p := range s.Dashboards.DefinitionDirs {
		if p == "" {
			c.add(fmt.Sprintf("dashboards.definition_dirs[%d]", i), "must not be empty")
		}
	}

	if o := s.ObjectStore; o != nil {
		if c.required("object_store.endpoint", o.Endpoint) {
			if err := checkEndpoint(o.Endpoint); err != nil {
				c.add("object_store.endpoint", "%q: %v", o.Endpoint, err)
			}
		}
		if c.required("object_store.bucket", o.Bucket) && !bucketPattern.MatchString(o.Bucket) {
			c.add("object_store.bucket", "%q is not an S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')", o.Bucket)
		}
		c.required("object_store.region", o.Region)
		c.positive("object_store.request_timeout_ms", o.RequestTimeoutMs)
		c.positive("object_store.poll_interval_ms", o.PollIntervalMs)
		if o.CAFile != "" && !o.Secure {
			c.add("object_store.ca_file", "set, but secure = false: the connection would not use TLS")
		}
		switch {
		case o.AccessKeyFile != "" && o.SecretKeyFile == "":
			c.add("object_store.secret_key_file", "required when object_store.access_key_file is set")
		case o.AccessKeyFile == "" && o.SecretKeyFile != "":
			c.add("object_store.access_key_file", "required when object_store.secret_key_file is set")
		}
	}
	c.log("log.", s.Log)
	return c.err()
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
