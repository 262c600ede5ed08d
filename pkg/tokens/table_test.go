package tokens

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightmetrics/lightmetrics/pkg/config/tomldoc"
)

const (
	tokA = "tokenA-0123456789abcdef"
	tokB = "tokenB-0123456789abcdef"
)

func TestLoadTableAndLookup(t *testing.T) {
	doc := `# two agents
[[tokens]]
agent_id = "web-1"
token = "` + tokA + `"

[[tokens]]
agent_id = "db_2.lab"
token = "` + tokB + `"
`
	p := writeFile(t, "ingest-tokens.toml", doc, 0o600)
	tab, err := LoadTable(p)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 2 {
		t.Fatalf("Len() = %d", tab.Len())
	}
	tests := []struct {
		token  string
		wantID string
		wantOK bool
	}{
		{tokA, "web-1", true},
		{tokB, "db_2.lab", true},
		{tokA + "x", "", false},
		{tokA[:len(tokA)-1], "", false},
		{"", "", false},
		{"web-1", "", false},
	}
	for _, tt := range tests {
		id, ok := tab.Lookup(tt.token)
		if id != tt.wantID || ok != tt.wantOK {
			t.Errorf("Lookup(%d bytes) = %q, %v; want %q, %v", len(tt.token), id, ok, tt.wantID, tt.wantOK)
		}
	}
	var empty Table
	if _, ok := empty.Lookup(tokA); ok {
		t.Error("empty table authorised a token")
	}
}

func TestLoadTableErrors(t *testing.T) {
	entry := func(id, tok string) string {
		return "[[tokens]]\nagent_id = \"" + id + "\"\ntoken = \"" + tok + "\"\n"
	}
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the joined error, each with key and line
	}{
		{"unknown key", entry("a", tokA) + "role = \"admin\"\n", []string{"t.toml:4: tokens[0].role: unknown key"}},
		{"unknown top-level key", "version = 1\n" + entry("a", tokA), []string{"t.toml:1: version: unknown key"}},
		{"duplicate agent_id", entry("a", tokA) + entry("a", tokB),
			[]string{`t.toml:5: tokens[1].agent_id: "a" already has a token in tokens[0] (line 1)`}},
		{"duplicate token", entry("a", tokA) + entry("b", tokA),
			[]string{`t.toml:6: tokens[1].token: same token as tokens[0] (agent_id "a")`}},
		{"empty token", entry("a", ""), []string{"t.toml:3: tokens[0].token: token is empty"}},
		{"short token", entry("a", tokA[:15]), []string{"t.toml:3: tokens[0].token: token is 15 bytes long, shorter than the minimum of 16"}},
		{"placeholder token", entry("a", "<agent bearer token>"), []string{"t.toml:3: tokens[0].token: token contains whitespace"}},
		{"missing token", "[[tokens]]\nagent_id = \"a\"\n", []string{"t.toml: tokens[0].token: required"}},
		{"missing agent_id", "[[tokens]]\ntoken = \"" + tokA + "\"\n", []string{"t.toml: tokens[0].agent_id: required"}},
		{"bad agent_id", entry("web 1", tokA), []string{`t.toml:2: tokens[0].agent_id: "web 1" is not 1-128 characters`}},
		{"no entries", "# nothing yet\n", []string{"t.toml: tokens: no [[tokens]] entries"}},
		{"wrong type", "[[tokens]]\nagent_id = \"a\"\ntoken = 12345678901234567\n",
			[]string{"t.toml:3: tokens[0].token: wrong type: want a string, found a TOML integer"}},
		{"bad escape in token", "[[tokens]]\nagent_id = \"a\"\ntoken = \"tokenA-0123\\qsecretpart\"\n",
			[]string{"t.toml:3: syntax error"}},
		{"several problems at once", entry("a", "sh0rtT") + entry("a", tokB),
			[]string{"t.toml:3: tokens[0].token: token is 6 bytes", "t.toml:5: tokens[1].agent_id: \"a\" already"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := ParseTable("t.toml", strings.NewReader(tt.doc))
			if err == nil {
				t.Fatalf("ParseTable() = %d entries, want an error", tab.Len())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant substring %q", err, w)
				}
			}
			for _, secret := range []string{tokA, tokB, tokA[:15], "sh0rtT", "secretpart", "'q'", "U+0071"} {
				if strings.Contains(tt.doc, secret) && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks token material %q", err, secret)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "t.toml") {
					t.Errorf("error line %q does not start with the file name", line)
				}
			}
			var te *tomldoc.Error
			if !errors.As(err, &te) {
				t.Errorf("error is not a *tomldoc.Error: %T", err)
			}
		})
	}
}

func TestLoadTableFile(t *testing.T) {
	if _, err := LoadTable(filepath.Join(t.TempDir(), "absent.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadTable(absent) = %v, want ErrNotExist", err)
	}
	big := strings.Repeat("# padding padding padding padding padding padding\n", (maxTableFileBytes/50)+10)
	if _, err := ParseTable("big.toml", strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized table: %v", err)
	}
}

// TestSampleTableIsRefused keeps the shipped sample from ever being a
// working token table: copying it unedited must not authorise anyone.
func TestSampleTableIsRefused(t *testing.T) {
	_, err := LoadTable("../../configs/ingest-tokens.toml")
	if err == nil {
		t.Fatal("the sample token table loaded; its placeholder must be refused")
	}
	if !strings.Contains(err.Error(), "tokens[0].token") || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("unexpected error for the sample: %v", err)
	}
}

func BenchmarkLookup(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		sb.WriteString("[[tokens]]\nagent_id = \"agent-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "\"\n")
		sb.WriteString("token = \"token-" + strings.Repeat("y", 16) + string(rune('a'+i%26)) + strings.Repeat("z", i/26) + "\"\n")
	}
	tab, err := ParseTable("b.toml", strings.NewReader(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		tab.Lookup("token-yyyyyyyyyyyyyyyya")
	}
}
