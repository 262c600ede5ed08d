package config

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// schemaKeys lists the dotted TOML keys of a config struct type, the way
// docs/configuration.md writes them: nested tables as "section.key", arrays
// of tables as "logs.source", maps (free-form tables) as one key.
func schemaKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if !f.IsExported() || tag == "-" || tag == "" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			keys = append(keys, schemaKeys(ft, key)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, schemaKeys(ft.Elem(), key)...)
		default:
			keys = append(keys, key)
		}
	}
	return keys
}

// docKeyCell matches the first cell of a reference table row: a backquoted
// dotted key.
var docKeyCell = regexp.MustCompile("^\\|\\s*`([a-z_][a-z0-9_.]*)`\\s*\\|")

// documentedKeys reads docs/configuration.md and returns, per file heading
// ("## server.toml", "## agent.toml", "## ingest-tokens.toml"), the keys of
// its reference tables.
func documentedKeys(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			section = strings.Fields(strings.TrimPrefix(line, "## "))[0]
			continue
		}
		if m := docKeyCell.FindStringSubmatch(line); m != nil && section != "" {
			out[section] = append(out[section], m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDocsCoverSchema(t *testing.T) {
	docs := documentedKeys(t)
	tests := []struct {
		section string
		schema  []string
	}{
		{"server.toml", schemaKeys(reflect.TypeOf(Server{}), "")},
		{"agent.toml", schemaKeys(reflect.TypeOf(Agent{}), "")},
		// The token table's shape lives in pkg/tokens; it is small and fixed.
		{"ingest-tokens.toml", []string{"tokens.agent_id", "tokens.token"}},
	}
	for _, tt := range tests {
		t.Run(tt.section, func(t *testing.T) {
			documented := docs[tt.section]
			if len(documented) == 0 {
				t.Fatalf("docs/configuration.md has no key table under \"## %s\"", tt.section)
			}
			inDocs := map[string]int{}
			for _, k := range documented {
				inDocs[k]++
			}
			inSchema := map[string]bool{}
			for _, k := range tt.schema {
				inSchema[k] = true
				if inDocs[k] == 0 {
					t.Errorf("key %s is not documented", k)
				}
			}
			var extra []string
			for k, n := range inDocs {
				if !inSchema[k] {
					extra = append(extra, k)
				}
				if n > 1 {
					t.Errorf("key %s is documented %d times", k, n)
				}
			}
			sort.Strings(extra)
			for _, k := range extra {
				t.Errorf("documented key %s does not exist in the schema", k)
			}
		})
	}
}

func TestSchemaKeys(t *testing.T) {
	keys := schemaKeys(reflect.TypeOf(Agent{}), "")
	for _, want := range []string{"agent_id", "processes.top_n", "logs.source", "logs.attributes", "log.level"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("schemaKeys misses %s: %v", want, keys)
		}
	}
	for _, k := range keys {
		if k == "Path" || strings.Contains(k, "doc") {
			t.Errorf("schemaKeys lists a non-TOML field: %s", k)
		}
	}
}
