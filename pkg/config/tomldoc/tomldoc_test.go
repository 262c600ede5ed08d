package tomldoc

import (
	"errors"
	"strings"
	"testing"
)

type sample struct {
	Top  string `toml:"top"`
	Sect struct {
		N   int `toml:"n"`
		TLS struct {
			Cert string `toml:"cert"`
		} `toml:"tls"`
	} `toml:"sect"`
	Logs []struct {
		Source string            `toml:"source"`
		Attrs  map[string]string `toml:"attrs"`
		Sub    struct {
			X int `toml:"x"`
		} `toml:"sub"`
	} `toml:"logs"`
	Inline []struct {
		A int `toml:"a"`
	} `toml:"inline"`
}

func TestIndexLines(t *testing.T) {
	doc := `top = "x"   # line 1
inline = [
  {a = 1},
  {a = 2},
]
[sect]
n = 5
tls.cert = "c"

[[logs]]
source = "a"
attrs = { env = "prod" }

[logs.sub]
x = 1

[[logs]]
source = "b"
[sect.tls]
`
	var v sample
	d, err := Decode("f.toml", []byte(doc), &v)
	if err == nil {
		t.Fatalf("sect.tls defined twice must fail") // dotted tls.cert then [sect.tls]
	}
	doc = strings.Replace(doc, "[sect.tls]\n", "", 1)
	d, err = Decode("f.toml", []byte(doc), &v)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"top":                  1,
		"inline":               2,
		"inline[0]":            3,
		"inline[0].a":          3,
		"inline[1].a":          4,
		"sect":                 6,
		"sect.n":               7,
		"sect.tls.cert":        8,
		"logs[0]":              10,
		"logs[0].source":       11,
		"logs[0].attrs":        12,
		"logs[0].attrs.env":    12,
		"logs[0].sub":          14,
		"logs[0].sub.x":        15,
		"logs[1]":              17,
		"logs[1].source":       18,
		"missing":              0,
		"logs[1].sub.x":        0,
		"sect.tls.cert.nested": 0,
	}
	for k, line := range want {
		if got := d.Line(k); got != line {
			t.Errorf("Line(%q) = %d, want %d", k, got, line)
		}
	}
	for key, has := range map[string]bool{"sect": true, "sect.tls": true, "logs": true, "logs[1]": true, "logs[2]": false, "sec": false, "object_store": false} {
		if d.Has(key) != has {
			t.Errorf("Has(%q) = %v", key, !has)
		}
	}
	if got := d.Keys()[0]; got != "top" {
		t.Errorf("Keys()[0] = %q", got)
	}
}

func TestIndexArrayElementsAndQuotedKeys(t *testing.T) {
	doc := "list = [\n  \"a\",\n\n  \"b\",\n]\nnested = [[1], [2]]\n\"odd key\" = 1\n[\"x.y\".z]\n"
	var v map[string]any
	d, err := Decode("f.toml", []byte(doc), &v)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"list": 1, "list[0]": 2, "list[1]": 4, "nested[1]": 6, "nested[1][0]": 6,
		`"odd key"`: 7, `"x.y".z`: 8}
	for k, line := range want {
		if got := d.Line(k); got != line {
			t.Errorf("Line(%s) = %d, want %d (keys %v)", k, got, line, d.Keys())
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // one entry per joined error, exact Error() text
	}{
		{"unknown keys in order", "top = \"x\"\nbogus = 1\n[sect]\nn = 1\nextra = 2\n",
			[]string{"f.toml:2: bogus: unknown key", "f.toml:5: sect.extra: unknown key"}},
		{"unknown key in second array element", "[[logs]]\nsource='a'\n[[logs]]\nsorce='b'\n",
			[]string{"f.toml:4: logs[1].sorce: unknown key"}},
		{"wrong type", "[sect]\nn = \"five\"\n",
			[]string{"f.toml:2: sect.n: wrong type: want an integer, found a TOML string"}},
		{"wrong type in array element", "[[logs]]\nsource = 1\n",
			[]string{"f.toml:2: logs[0].source: wrong type: want a string, found a TOML integer"}},
		{"table where a string is wanted", "[top]\n",
			[]string{"f.toml:1: top: cannot store a table in a string"}},
		{"syntax", "top = \"x\n",
			[]string{"f.toml:1: syntax error at column 9: basic strings cannot have new lines"}},
		{"duplicate key", "top = \"a\"\ntop = \"b\"\n", []string{"f.toml:2: top: "}},
		{"duplicate key in table", "[sect]\nn = 1\nn = 2\n", []string{"f.toml:3: sect.n: "}},
		{"quoted unknown key", "\"a\\nb\" = 1\n", []string{`f.toml:1: "a\nb": unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v sample
			_, err := Decode("f.toml", []byte(tt.doc), &v)
			if err == nil {
				t.Fatal("want an error")
			}
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), err, len(tt.want))
			}
			for i, e := range errs {
				var te *Error
				if !errors.As(e, &te) {
					t.Fatalf("error %v is %T, want *Error", e, e)
				}
				if !strings.HasPrefix(te.Error(), tt.want[i]) {
					t.Errorf("error %d = %q, want prefix %q", i, te.Error(), tt.want[i])
				}
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "server.toml", Key: "ingest.max_series_per_batch", Line: 12, Msg: "100 is below the floor of 107"},
			"server.toml:12: ingest.max_series_per_batch: 100 is below the floor of 107"},
		{Error{File: "agent.toml", Key: "agent_id", Msg: "required"}, "agent.toml: agent_id: required"},
		{Error{File: "a.toml", Line: 3, Msg: "syntax"}, "a.toml:3: syntax"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	cause := errors.New("cause")
	if !errors.Is(&Error{Err: cause}, cause) {
		t.Error("Unwrap does not expose the cause")
	}
}
