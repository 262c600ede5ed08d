package tokens

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"

	"github.com/lightmetrics/lightmetrics/pkg/config/tomldoc"
)

// maxTableFileBytes bounds the token table read; 4 MiB is tens of thousands
// of agents.
const maxTableFileBytes = 4 << 20

// agentIDPattern is the agent_id charset shared by agent.toml and the token
// table: safe in file names, label values and URLs.
var agentIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// ValidAgentID reports whether id is 1 to 128 characters of A-Z, a-z, 0-9,
// '.', '_' and '-'.
func ValidAgentID(id string) bool { return agentIDPattern.MatchString(id) }

// Table maps ingest tokens to the agent each one authenticates. It keeps
// only SHA-256 digests of the tokens.
type Table struct {
	entries []entry
}

type entry struct {
	agentID string
	digest  [sha256.Size]byte
}

// tableFile is the TOML shape of the token table.
type tableFile struct {
	Tokens []struct {
		AgentID string `toml:"agent_id"`
		Token   string `toml:"token"`
	} `toml:"tokens"`
}

// LoadTable reads an ingest token table: [[tokens]] entries with agent_id
// and token. Unknown keys, an empty table, a missing or invalid agent_id, a
// token shorter than MinTokenBytes or not visible ASCII, and a duplicate
// agent_id or token are all errors, each a *tomldoc.Error (the
// same type as config.Error) naming the key and line, joined with
// errors.Join. No error ever contains a token value.
func LoadTable(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: load table: %w", err)
	}
	defer f.Close()
	return ParseTable(path, f)
}

// ParseTable is LoadTable reading from r; name is used in errors.
func ParseTable(name string, r io.Reader) (*Table, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxTableFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tokens: read %s: %w", name, err)
	}
	if len(data) > maxTableFileBytes {
		return nil, &tomldoc.Error{File: name, Msg: fmt.Sprintf("larger than %d MiB", maxTableFileBytes>>20)}
	}
	var tf tableFile
	doc, err := tomldoc.Decode(name, data, &tf)
	if err != nil {
		return nil, scrub(err)
	}
	var errs []error
	t := &Table{entries: make([]entry, 0, len(tf.Tokens))}
	byID := map[string]int{}
	byDigest := map[[sha256.Size]byte]int{}
	for i, tok := range tf.Tokens {
		k := "tokens[" + strconv.Itoa(i) + "]"
		ok := true
		switch {
		case !doc.Has(k + ".agent_id"):
			errs = append(errs, doc.Errorf(k+".agent_id", "required"))
			ok = false
		case !ValidAgentID(tok.AgentID):
			errs = append(errs, doc.Errorf(k+".agent_id", "%q is not 1-128 characters of A-Z a-z 0-9 . _ -", tok.AgentID))
			ok = false
		default:
			if j, dup := byID[tok.AgentID]; dup {
				errs = append(errs, doc.Errorf(k+".agent_id", "%q already has a token in tokens[%d] (line %d)",
					tok.AgentID, j, doc.Line("tokens["+strconv.Itoa(j)+"]")))
				ok = false
			} else {
				byID[tok.AgentID] = i
			}
		}
		if !doc.Has(k + ".token") {
			errs = append(errs, doc.Errorf(k+".token", "required"))
			continue
		}
		if err := checkToken(tok.Token); err != nil {
			errs = append(errs, doc.Errorf(k+".token", "%v", err))
			continue
		}
		d := sha256.Sum256([]byte(tok.Token))
		if j, dup := byDigest[d]; dup {
			errs = append(errs, doc.Errorf(k+".token", "same token as tokens[%d] (agent_id %q); every agent needs its own",
				j, tf.Tokens[j].AgentID))
			continue
		}
		byDigest[d] = i
		if ok {
			t.entries = append(t.entries, entry{agentID: tok.AgentID, digest: d})
		}
	}
	if len(tf.Tokens) == 0 {
		errs = append(errs, &tomldoc.Error{File: name, Key: "tokens", Msg: "no [[tokens]] entries: no agent could authenticate"})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// scrub removes the one piece of document content go-toml's syntax errors
// may quote — the offending character — since in this file it may be part of
// a token.
func scrub(err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var te *tomldoc.Error
		if errors.As(e, &te) {
			c := *te
			c.Msg = quotedChar.ReplaceAllString(c.Msg, "a character")
			c.Err = nil
			out = append(out, &c)
			continue
		}
		out = append(out, errors.New("tokens: cannot parse the token table"))
	}
	return errors.Join(out...)
}

var quotedChar = regexp.MustCompile(`U\+[0-9A-Fa-f]{4,6}( '.*')?|'.'|"[^"]*"`)

// Len returns the number of agents in the table.
func (t *Table) Len() int { return len(t.entries) }

// Lookup returns the agent a token belongs to. It compares the token's
// digest with every entry, without stopping at a match, so the time taken
// says nothing about which entry matched or how much of a token was right.
func (t *Table) Lookup(token string) (agentID string, ok bool) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.entries {
		eq := subtle.ConstantTimeCompare(d[:], t.entries[i].digest[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 || token == "" {
		return "", false
	}
	return t.entries[found].agentID, true
}
