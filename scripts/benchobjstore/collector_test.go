package main

import (
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

const demoConfig = `
[ingest]
listen = '127.0.0.1:18443'
acceptance = 'local_spool'
# Unused here: the demo has no [object_store].
object_landing_interval_ms = 60000
token_file = '/d/ingest-tokens.toml'

[ingest.tls]
cert_file = '/d/tls/fullchain.pem'
key_file = '/d/tls/key.pem'

[storage]
spool_dir = '/d/spool'
spool_max_bytes = 1073741824
`

func TestRewriteServerConfig(t *testing.T) {
	st := storeSettings{Endpoint: "127.0.0.1:9000", Bucket: "lightmetrics-test", Prefix: "bench-x",
		AccessKeyFile: "/m/access-key", SecretKeyFile: "/m/secret-key", LandingInterval: 1500 * time.Millisecond}
	for _, tc := range []struct {
		m          mode
		wantStore  bool
		wantLandMs int64
	}{
		{modeLocal, false, 60000},
		{modeLanding, true, 1500},
		{modeManifest, true, 1500},
	} {
		t.Run(tc.m.Name, func(t *testing.T) {
			out, err := rewriteServerConfig([]byte(demoConfig), tc.m, st)
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				Ingest struct {
					Listen                  string `toml:"listen"`
					Acceptance              string `toml:"acceptance"`
					ObjectLandingIntervalMs int64  `toml:"object_landing_interval_ms"`
					TLS                     struct {
						CertFile string `toml:"cert_file"`
					} `toml:"tls"`
				} `toml:"ingest"`
				Storage struct {
					SpoolMaxBytes *int64 `toml:"spool_max_bytes"`
				} `toml:"storage"`
				ObjectStore *struct {
					Endpoint      string `toml:"endpoint"`
					Bucket        string `toml:"bucket"`
					Prefix        string `toml:"prefix"`
					Secure        bool   `toml:"secure"`
					PathStyle     bool   `toml:"path_style"`
					SecretKeyFile string `toml:"secret_key_file"`
				} `toml:"object_store"`
			}
			if err := toml.Unmarshal(out, &cfg); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			in := cfg.Ingest
			if in.Acceptance != tc.m.Acceptance || in.ObjectLandingIntervalMs != tc.wantLandMs ||
				in.Listen != "127.0.0.1:18443" || in.TLS.CertFile != "/d/tls/fullchain.pem" {
				t.Errorf("ingest = %+v", in)
			}
			if cfg.Storage.SpoolMaxBytes == nil || *cfg.Storage.SpoolMaxBytes != 0 {
				t.Errorf("spool_max_bytes not lifted:\n%s", out)
			}
			if (cfg.ObjectStore != nil) != tc.wantStore {
				t.Fatalf("object_store present = %v, want %v:\n%s", cfg.ObjectStore != nil, tc.wantStore, out)
			}
			if os := cfg.ObjectStore; os != nil && (os.Endpoint != st.Endpoint || os.Bucket != st.Bucket || os.Prefix != st.Prefix ||
				os.Secure || !os.PathStyle || os.SecretKeyFile != st.SecretKeyFile) {
				t.Errorf("object_store = %+v", *os)
			}
		})
	}
	if _, err := rewriteServerConfig([]byte("[query]\nlisten = 'x'\n"), modeLocal, st); err == nil {
		t.Error("config without [ingest] accepted")
	}
}
