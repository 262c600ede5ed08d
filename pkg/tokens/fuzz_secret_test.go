package tokens

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secretFileMessages are every refusal of a token or credential file after
// "tokens: <path>: ". None has room for the file's content.
var secretFileMessages = regexp.MustCompile(`^(file is empty|larger than 64 KiB; a token file holds one token|` +
	`token contains whitespace, control or non-ASCII characters \(is this still the sample placeholder\?\)|` +
	`token is [0-9]+ bytes long, shorter than the minimum of 16|` +
	`contains whitespace or non-ASCII characters inside the value)$`)

// FuzzLoadSecret writes arbitrary content, followed by pad newlines, to a
// token file and loads it both as a token (LoadSecret) and as a credential
// (LoadCredential). Each accepts exactly what its rules allow and returns
// the trimmed content; a refusal names the path and says what is wrong in
// one of a few fixed messages, so it never shows the content.
// Seeds: testdata/fuzz/FuzzLoadSecret.
func FuzzLoadSecret(f *testing.F) {
	for _, s := range []string{
		"\n  " + testToken + " \r\n\t", "0123456789abcdef", "0123456789abcde", "", " \n\t\n",
		testToken + "\n" + testToken, "abc def ghi jkl mno", testToken + "é", "\u00a0" + testToken + "\u2028",
		"minio-access-key", "AKIA", "tok\x00en-0123456789abcdef", "[redacted]", "token contains whitespace",
	} {
		f.Add([]byte(s), uint32(0))
	}
	f.Add([]byte("a"), uint32(maxSecretFileBytes-1)) // exactly the cap
	f.Add([]byte("a"), uint32(maxSecretFileBytes))   // one byte over
	p := filepath.Join(f.TempDir(), "token")
	f.Fuzz(func(t *testing.T, content []byte, pad uint32) {
		data := append(bytes.Clone(content), bytes.Repeat([]byte("\n"), int(pad%(maxSecretFileBytes+1024)))...)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		v := string(bytes.TrimSpace(data))
		okCred := len(data) <= maxSecretFileBytes && v != "" && visibleASCII(v)
		okToken := okCred && len(v) >= MinTokenBytes

		for _, load := range []struct {
			name string
			fn   func(string) (Secret, error)
			ok   bool
		}{{"LoadSecret", LoadSecret, okToken}, {"LoadCredential", LoadCredential, okCred}} {
			s, err := load.fn(p)
			if err == nil {
				if !load.ok || s.Value() != v {
					t.Fatalf("%s(%q) accepted %q", load.name, data, s.Value())
				}
				continue
			}
			if load.ok {
				t.Fatalf("%s(%q) refused: %v", load.name, data, err)
			}
			rest, found := strings.CutPrefix(err.Error(), "tokens: "+p+": ")
			if !found || !secretFileMessages.MatchString(rest) {
				t.Fatalf("%s: error %q is not a fixed message about the path", load.name, err)
			}
		}
	})
}
