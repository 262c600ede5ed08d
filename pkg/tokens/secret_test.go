package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testToken = "s3cr3t-T0KEN-value-0123456789"

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(testToken)
	holder := struct {
		Name  string
		Token Secret
		Ptr   *Secret
	}{"web-1", s, &s}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, &s))
	}
	outputs = append(outputs, fmt.Sprint(s), fmt.Sprintln(holder), s.String(), s.GoString())
	js, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(js))
	wrapped := fmt.Errorf("auth failed for %v: %w", s, errors.New("x"))
	outputs = append(outputs, wrapped.Error())

	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("loaded", "token", s, "holder", holder, slog.Any("ptr", &s))
		l.Info("group", slog.Group("auth", "token", s))
	}
	outputs = append(outputs, logs.String())

	for _, out := range outputs {
		if strings.Contains(out, testToken) || strings.Contains(out, fmt.Sprintf("%x", testToken)) ||
			strings.Contains(out, "s3cr3t") {
			t.Errorf("token leaked in %q", out)
		}
	}
	if !strings.Contains(fmt.Sprintf("%v", s), "[redacted]") || !strings.Contains(logs.String(), "[redacted]") ||
		!strings.Contains(string(js), "[redacted]") {
		t.Error("expected the [redacted] marker in the output")
	}
	if s.Value() != testToken {
		t.Error("Value() must return the token for sending")
	}
}

func TestSecretEqual(t *testing.T) {
	s := NewSecret(testToken)
	tests := []struct {
		secret    Secret
		candidate string
		want      bool
	}{
		{s, testToken, true},
		{s, testToken + "x", false},
		{s, testToken[:len(testToken)-1], false},
		{s, "", false},
		{Secret{}, "", false}, // an unset token never authorises
		{Secret{}, "anything", false},
	}
	for _, tt := range tests {
		if got := tt.secret.Equal(tt.candidate); got != tt.want {
			t.Errorf("Equal(%d bytes) = %v, want %v", len(tt.candidate), got, tt.want)
		}
	}
}

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
	return p
}

func TestLoadSecret(t *testing.T) {
	sixteen := "0123456789abcdef"
	tests := []struct {
		name    string
		content string
		want    string // "" = error expected
		wantErr string
	}{
		{"trims whitespace", "\n  " + testToken + " \r\n\t", testToken, ""},
		{"exactly the minimum", sixteen, sixteen, ""},
		{"one short of the minimum", sixteen[:15], "", "15 bytes long, shorter than the minimum of 16"},
		{"empty", "", "", "file is empty"},
		{"only whitespace", " \n\t\n", "", "file is empty"},
		{"two tokens", testToken + "\n" + testToken, "", "whitespace"},
		{"space inside", "abc def ghi jkl mno", "", "whitespace"},
		{"non-ascii", testToken + "é", "", "non-ASCII"},
		{"too large", strings.Repeat("a", maxSecretFileBytes+1), "", "larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "token", tt.content, 0o600)
			s, err := LoadSecret(p)
			if tt.want != "" {
				if err != nil || s.Value() != tt.want {
					t.Fatalf("LoadSecret() = %d bytes, %v; want %q", len(s.Value()), err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
				t.Fatalf("LoadSecret() error = %v, want path and %q", err, tt.wantErr)
			}
			if trimmed := strings.TrimSpace(tt.content); len(trimmed) > 3 && strings.Contains(err.Error(), trimmed[:4]) {
				t.Fatalf("error %q echoes the file content", err)
			}
		})
	}
	if _, err := LoadSecret(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want ErrNotExist", err)
	}
}

func TestLoadCredential(t *testing.T) {
	p := writeFile(t, "key", " minio\n", 0o600)
	s, err := LoadCredential(p)
	if err != nil || s.Value() != "minio" {
		t.Fatalf("LoadCredential() = %v, %v", s.Value(), err)
	}
	p = writeFile(t, "key", "a b", 0o600)
	if _, err := LoadCredential(p); err == nil {
		t.Fatal("whitespace inside must be refused")
	}
}

func TestCheckMode(t *testing.T) {
	tests := []struct {
		mode os.FileMode
		warn bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, false}, // the install guide's owner + service group layout
		{0o644, true},
		{0o660, true},
		{0o604, true},
		{0o601, true},
	}
	for _, tt := range tests {
		p := writeFile(t, "token", testToken, tt.mode)
		err := CheckMode(p)
		var me *ModeError
		if got := errors.As(err, &me); got != tt.warn {
			t.Errorf("mode %04o: CheckMode() = %v, want warning %v", tt.mode, err, tt.warn)
		}
		if tt.warn && !strings.Contains(err.Error(), fmt.Sprintf("%04o", tt.mode)) {
			t.Errorf("warning %q does not show the mode", err)
		}
	}
	if err := CheckMode(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CheckMode(absent) = %v", err)
	}
}

func TestGenerate(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate()
	if len(a.Value()) != 43 || a.Value() == b.Value() {
		t.Fatalf("Generate() gave %d-byte tokens, equal=%v", len(a.Value()), a.Value() == b.Value())
	}
	p := writeFile(t, "token", a.Value()+"\n", 0o600)
	if s, err := LoadSecret(p); err != nil || !s.Equal(a.Value()) {
		t.Fatalf("generated token does not load back: %v", err)
	}
}
