package tokens

import (
	"strings"
	"testing"
)

// FuzzParseTable: the ingest token table is operator input read at start
// and on SIGHUP; it must never panic, and an error must never echo a
// token value.
func FuzzParseTable(f *testing.F) {
	f.Add("[[tokens]]\nagent_id = \"web-1\"\ntoken = \"0123456789abcdef0123456789abcdef\"\n")
	f.Add("[[tokens]]\nagent_id = \"a\"\ntoken = \"short\"\n[[tokens]]\nagent_id = \"a\"\ntoken = \"short\"\n")
	f.Add("[[tokens]]\nagent_id = \"bad id!\"\ntoken = \"0123456789abcdef0123456789abcdef\"\nextra = 1\n")
	f.Add("tokens = 3")
	f.Fuzz(func(t *testing.T, doc string) {
		table, err := ParseTable("ingest-tokens.toml", strings.NewReader(doc))
		if err != nil {
			// Any quoted string of 16+ characters in the input could be a
			// token; none may show up in the error.
			for _, part := range strings.Split(doc, "\"") {
				if len(part) >= 16 && !strings.Contains(part, "token") && strings.Contains(err.Error(), part) && strings.Contains(doc, "token = \""+part+"\"") {
					t.Fatalf("error %q shows a token value", err)
				}
			}
			return
		}
		if table.Len() < 0 {
			t.Fatal("negative table size")
		}
	})
}
