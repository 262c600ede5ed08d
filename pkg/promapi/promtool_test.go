package promapi

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// promtool finds Debian's promtool (package "prometheus"). In CI (CI set)
// its absence fails the test; elsewhere the test is skipped with a hint.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("promtool not found (%v): install the Debian package \"prometheus\" (scripts/test.sh does)", err)
	}
	t.Skipf("promtool not found (%v): install the Debian package \"prometheus\" to run this real-client test", err)
	return ""
}

// loopbackServer serves h on 127.0.0.1 only.
func loopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestPromtool runs the real Prometheus client against the handler:
// promtool query instant and promtool query range must parse the responses
// and print the series and values.
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	srv := loopbackServer(t, newHandler(t, Options{}))

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"instant", []string{"query", "instant", "--time=" + now.Format(time.RFC3339), srv.URL, "up_like_metric"},
			[]string{`up_like_metric{agent="a1"} => 1 @[1700000600]`, `up_like_metric{agent="a2"} => 0 @[1700000600]`}},
		{"instant rate", []string{"query", "instant", "--time=" + unix(now), srv.URL, `sum by (cpu) (rate(cpu_seconds_total[5m]))`},
			[]string{`{cpu="0"} => 0.2 @[1700000600]`, `{cpu="1"} => 0.2 @[1700000600]`}},
		{"range", []string{"query", "range", "--start=" + t0.Format(time.RFC3339), "--end=" + t0.Add(2*time.Minute).Format(time.RFC3339), "--step=1m", srv.URL, `up_like_metric{agent="a1"}`},
			[]string{`up_like_metric{agent="a1"} =>`, `1 @[1700000000]`, `1 @[1700000060]`, `1 @[1700000120]`}},
		{"range json", []string{"query", "range", "--format=json", "--start=" + unix(t0), "--end=" + unix(t0.Add(time.Minute)), "--step=60s", srv.URL, `mem_used{agent="a2"}`},
			[]string{`"metric":{"__name__":"mem_used","agent":"a2"}`, `"values":[[1700000000,"2000"],[1700000060,"2000"]]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, tt.args...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Fatalf("promtool output lacks %q:\n%s", w, out)
				}
			}
		})
	}

	// A bad query reaches promtool as Prometheus's error and fails it.
	out, err := exec.Command(bin, "query", "instant", srv.URL, "sum(").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad_data") {
		t.Fatalf("bad query: err %v, output:\n%s", err, out)
	}
}
