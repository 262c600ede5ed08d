package installcheck

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/lightmetrics/lightmetrics/pkg/command"
)

// repoRoot is the module root, relative to this package's directory (where
// go test runs the tests).
const repoRoot = "../.."

// layoutRow is one row of the layout table in docs/install.md.
type layoutRow struct {
	path   string // absolute install path; a trailing "/" marks a directory
	mode   string // "0755", "0640", ... or "symlink"
	staged bool
}

// readLayout returns the rows of the table under "## Layout" in
// docs/install.md, located by its header cells, so that the doc and the
// staging script are held to one description.
func readLayout(t *testing.T) []layoutRow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		rows                       []layoutRow
		inSection                  bool
		pathCol, modeCol, stageCol = -1, -1, -1
	)
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "## ") {
			inSection = strings.TrimSpace(line) == "## Layout"
			continue
		}
		if !inSection || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := splitRow(line)
		if pathCol < 0 {
			for i, c := range cells {
				switch c {
				case "Path":
					pathCol = i
				case "Mode":
					modeCol = i
				case "Staged":
					stageCol = i
				}
			}
			if pathCol < 0 || modeCol < 0 || stageCol < 0 {
				t.Fatalf("docs/install.md: layout table header %q lacks Path, Mode or Staged", line)
			}
			continue
		}
		if len(cells) <= max(pathCol, modeCol, stageCol) || strings.Trim(cells[pathCol], "-: ") == "" {
			continue // the |---| separator
		}
		p := strings.Trim(cells[pathCol], "`")
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("docs/install.md: layout row %q: path %q is not absolute", line, p)
		}
		var staged bool
		switch cells[stageCol] {
		case "yes":
			staged = true
		case "no":
		default:
			t.Fatalf("docs/install.md: layout row %q: Staged is %q, want yes or no", line, cells[stageCol])
		}
		rows = append(rows, layoutRow{path: p, mode: cells[modeCol], staged: staged})
	}
	if len(rows) < 10 {
		t.Fatalf("docs/install.md: found %d layout rows under \"## Layout\", want the whole table", len(rows))
	}
	return rows
}

func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	cells := strings.Split(line, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// runScript runs scripts/install-staging.sh with the given environment
// additions and returns its combined output and error.
func runScript(t *testing.T, env ...string) ([]byte, error) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash is needed to run scripts/install-staging.sh: %v", err)
	}
	// With a warm build cache the script takes seconds; a cold cache on a
	// 2-core machine needs about four minutes for the go build alone.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "scripts/install-staging.sh")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

func TestInstallStagingRefusesRoot(t *testing.T) {
	tests := []struct {
		name, stage string
	}{
		{"empty", ""},
		{"root", "/"},
		{"root spelt with dots", "/tmp/.."},
		{"root spelt with slashes", "//"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GO points nowhere: should the guard ever fail, the build
			// fails before anything is installed, so this test can never
			// write into the real root.
			out, err := runScript(t, "STAGE="+tt.stage, "GO=/nonexistent/lightmetrics-test-go")
			if err == nil {
				t.Fatalf("STAGE=%q: script succeeded:\n%s", tt.stage, out)
			}
			if !bytes.Contains(out, []byte("refusing")) {
				t.Fatalf("STAGE=%q: script failed without refusing the root:\n%s", tt.stage, out)
			}
		})
	}
}

func TestInstallStaging(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped in -short mode")
	}
	rows := readLayout(t)
	stage := t.TempDir()
	out, err := runScript(t, "STAGE="+stage)
	if err != nil {
		t.Fatalf("install-staging.sh: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("install-staging: OK")) {
		t.Fatalf("install-staging.sh exited 0 without its OK line:\n%s", out)
	}
	in := func(p string) string { return filepath.Join(stage, filepath.FromSlash(p)) }

	var binary string
	for _, r := range rows {
		if r.staged && r.mode != "symlink" && !strings.HasSuffix(r.path, "/") && path.Base(r.path) == "lightmetrics" {
			binary = in(r.path)
		}
	}
	if binary == "" {
		t.Fatal("docs/install.md: the layout table has no staged lightmetrics binary")
	}

	// Every staged row exists as described.
	for _, r := range rows {
		if !r.staged {
			continue
		}
		matches := []string{in(r.path)}
		if strings.ContainsAny(r.path, "*?[") {
			matches, err = filepath.Glob(in(r.path))
			if err != nil || len(matches) == 0 {
				t.Errorf("%s: nothing staged matches (err %v)", r.path, err)
				continue
			}
		}
		for _, m := range matches {
			checkEntry(t, r, m, binary)
		}
	}

	// Nothing is staged that the table does not list. /usr/local/bin is a
	// system directory: only what the script puts in it is checked.
	for _, top := range []string{"/usr/local/bin", "/etc/lightmetrics", "/var/lib/lightmetrics"} {
		err := filepath.WalkDir(in(top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, stage+string(filepath.Separator)))
			if d.IsDir() {
				if top == "/usr/local/bin" {
					return nil
				}
				rel += "/"
			}
			if !listed(rows, rel) {
				t.Errorf("%s is staged but not in the layout table of docs/install.md (or not marked staged)", rel)
			}
			return nil
		})
		if err != nil {
			t.Errorf("walk %s: %v", top, err)
		}
	}
}

// checkEntry compares one staged path with its layout row.
func checkEntry(t *testing.T, r layoutRow, p, binary string) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%s: not staged: %v", r.path, err)
		return
	}
	isDir := strings.HasSuffix(r.path, "/")
	switch {
	case r.mode == "symlink":
		if fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s: %v, want a symlink", r.path, fi.Mode())
			return
		}
		target, err := os.Readlink(p)
		if err != nil || target != filepath.Base(binary) {
			t.Errorf("%s: points at %q (%v), want the relative name %q", r.path, target, err, filepath.Base(binary))
		}
		resolved, err := filepath.EvalSymlinks(p)
		wantResolved, _ := filepath.EvalSymlinks(binary)
		if err != nil || resolved != wantResolved {
			t.Errorf("%s: resolves to %q (%v), want the staged binary %q", r.path, resolved, err, wantResolved)
		}
		return
	case isDir && !fi.IsDir():
		t.Errorf("%s: %v, want a directory", r.path, fi.Mode())
		return
	case !isDir && !fi.Mode().IsRegular():
		t.Errorf("%s: %v, want a regular file", r.path, fi.Mode())
		return
	}
	if got := "0" + strconvOctal(fi.Mode().Perm()); got != r.mode {
		t.Errorf("%s: mode %s, want %s", r.path, got, r.mode)
	}
}

func strconvOctal(m fs.FileMode) string {
	const digits = "01234567"
	return string([]byte{digits[(m>>6)&7], digits[(m>>3)&7], digits[m&7]})
}

// listed reports whether rel matches a staged row, globs included.
func listed(rows []layoutRow, rel string) bool {
	for _, r := range rows {
		if !r.staged {
			continue
		}
		if r.path == rel {
			return true
		}
		if ok, _ := path.Match(r.path, rel); ok {
			return true
		}
	}
	return false
}

// --- links ---------------------------------------------------------------

var (
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// markdownFiles are the pages whose links must resolve.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(repoRoot, "README.md"))
	sort.Strings(files)
	return files
}

// proseLines returns the lines of a Markdown file outside fenced code
// blocks, with inline code spans removed, numbered from 1.
func proseLines(data []byte) map[int]string {
	out := map[int]string{}
	fence := ""
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		out[i+1] = codeSpan.ReplaceAllString(line, "")
	}
	return out
}

func TestDocLinks(t *testing.T) {
	headings := map[string]map[string]bool{} // file -> anchors
	anchorsOf := func(file string) map[string]bool {
		if a, ok := headings[file]; ok {
			return a
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil
		}
		headings[file] = anchors(data)
		return headings[file]
	}

	checked := 0
	for _, file := range markdownFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(repoRoot, file)
		lines := proseLines(data)
		nums := make([]int, 0, len(lines))
		for n := range lines {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		for _, n := range nums {
			line := lines[n]
			var targets []string
			for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
				targets = append(targets, m[1])
			}
			if m := refLink.FindStringSubmatch(line); m != nil {
				targets = append(targets, m[1])
			}
			for _, target := range targets {
				if scheme.MatchString(target) || strings.HasPrefix(target, "//") {
					continue // absolute URL: not ours to check offline
				}
				checked++
				p, frag, _ := strings.Cut(target, "#")
				p, err := url.PathUnescape(p)
				if err != nil {
					t.Errorf("%s:%d: link %q: %v", name, n, target, err)
					continue
				}
				dest := file
				if p != "" {
					dest = filepath.Join(filepath.Dir(file), filepath.FromSlash(p))
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s:%d: link %q: %s does not exist", name, n, target, p)
						continue
					}
				}
				if frag != "" && strings.HasSuffix(dest, ".md") && !anchorsOf(dest)[frag] {
					t.Errorf("%s:%d: link %q: no heading with anchor #%s in %s", name, n, target, frag, filepath.Base(dest))
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d relative links found in docs/*.md and README.md; is the link pattern broken?", checked)
	}
}

// anchors returns the GitHub-style anchors of the ATX headings of a
// Markdown document: lower case, punctuation dropped, spaces as hyphens,
// repeats suffixed -1, -2, ...
func anchors(data []byte) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	inline := regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	lines := proseLines(data)
	raw := strings.Split(string(data), "\n")
	for i, line := range raw {
		if _, prose := lines[i+1]; !prose || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimLeft(line, "#")
		if text == "" || text[0] != ' ' {
			continue
		}
		text = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(text), "#"))
		text = inline.ReplaceAllString(text, "$1")
		text = strings.ReplaceAll(text, "`", "")
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out[slug+"-"+itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// --- commands ------------------------------------------------------------

// shellBlocks returns the command lines of the shell code blocks (sh, bash,
// shell, console) of a Markdown file, with continuation lines joined; in a
// console block only "$ " lines count.
func shellBlocks(data []byte) []string {
	var (
		out     []string
		lang    string
		inBlock bool
		pending string
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if inBlock {
				inBlock = false
				continue
			}
			inBlock, lang, pending = true, strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), ""
			continue
		}
		if !inBlock {
			continue
		}
		switch lang {
		case "sh", "bash", "shell":
		case "console":
			if !strings.HasPrefix(trimmed, "$ ") && pending == "" {
				continue
			}
			trimmed = strings.TrimPrefix(trimmed, "$ ")
		default:
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			pending += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		out = append(out, pending+trimmed)
		pending = ""
	}
	return out
}

// token is a shell word, or an operator: "sep" between commands, "redir"
// before a redirection target.
type token struct {
	word string
	op   string
}

// shellWords splits one command line the way a POSIX shell would for the
// purpose of finding its commands: quotes removed, $(...) kept whole,
// comments dropped, command separators and redirections marked.
func shellWords(line string) []token {
	var (
		toks []token
		cur  strings.Builder
		have bool
	)
	flush := func() {
		if have {
			toks = append(toks, token{word: cur.String()})
		}
		cur.Reset()
		have = false
	}
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			flush()
		case r == '#' && !have:
			return toks // a comment runs to the end of the line
		case r == '\'':
			have = true
			for i++; i < len(rs) && rs[i] != '\''; i++ {
				cur.WriteRune(rs[i])
			}
		case r == '"':
			have = true
			for i++; i < len(rs) && rs[i] != '"'; i++ {
				if rs[i] == '\\' && i+1 < len(rs) {
					i++
				}
				cur.WriteRune(rs[i])
			}
		case r == '\\' && i+1 < len(rs):
			have = true
			i++
			cur.WriteRune(rs[i])
		case r == '$' && i+1 < len(rs) && rs[i+1] == '(':
			have = true
			depth := 0
			for ; i < len(rs); i++ {
				cur.WriteRune(rs[i])
				if rs[i] == '(' {
					depth++
				} else if rs[i] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
		case r == '|' || r == '&' || r == ';':
			flush()
			if i+1 < len(rs) && (rs[i+1] == '|' || rs[i+1] == '&') {
				i++
			}
			toks = append(toks, token{op: "sep"})
		case r == '>' || r == '<':
			if have && strings.Trim(cur.String(), "0123456789") == "" {
				cur.Reset() // a file descriptor number, as in 2>
				have = false
			}
			flush()
			if i+1 < len(rs) && rs[i+1] == r {
				i++
			}
			if i+1 < len(rs) && rs[i+1] == '&' {
				for i++; i+1 < len(rs) && strings.ContainsRune("0123456789-", rs[i+1]); i++ {
				}
				continue // >&2: no target word
			}
			toks = append(toks, token{op: "redir"})
		default:
			have = true
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// commandsOf returns the argument vectors of the simple commands in line,
// with leading variable assignments and sudo removed.
func commandsOf(line string) [][]string {
	var (
		out  [][]string
		cur  []string
		skip bool
	)
	end := func() {
		for len(cur) > 0 && assignment.MatchString(cur[0]) {
			cur = cur[1:]
		}
		if len(cur) > 0 && (cur[0] == "sudo" || cur[0] == "exec") {
			cur = cur[1:]
			for len(cur) > 1 && cur[0] == "-u" {
				cur = cur[2:]
			}
		}
		if len(cur) > 0 {
			out = append(out, cur)
		}
		cur = nil
	}
	for _, tk := range shellWords(line) {
		switch {
		case tk.op == "sep":
			end()
		case tk.op == "redir":
			skip = true
		case skip:
			skip = false
		default:
			cur = append(cur, tk.word)
		}
	}
	end()
	return out
}

// lightmetricsArgs returns argv for command.Run when args runs the
// lightmetrics binary (under any of its names, or as `go run .`).
func lightmetricsArgs(args []string) ([]string, bool) {
	switch base := path.Base(args[0]); base {
	case "lightmetrics", "lm-collector", "lm-agent":
		return append([]string{base}, args[1:]...), true
	case "go":
		if len(args) >= 3 && args[1] == "run" {
			for i, a := range args[2:] {
				if !strings.HasPrefix(a, "-") {
					if a == "." || a == "./" {
						return append([]string{"lightmetrics"}, args[3+i:]...), true
					}
					return nil, false
				}
			}
		}
	}
	return nil, false
}

func TestInstallCommands(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{} // "spelling action"
	found := 0
	for _, line := range shellBlocks(data) {
		for _, args := range commandsOf(line) {
			argv, ok := lightmetricsArgs(args)
			if !ok {
				continue
			}
			found++
			var called string
			record := func(name string) func(context.Context, string, io.Writer) error {
				return func(context.Context, string, io.Writer) error { called = name; return nil }
			}
			roles := command.Roles{
				CollectorRun: record("collector run"),
				CollectorCheck: func(context.Context, string, bool, io.Writer) error {
					called = "collector check-config"
					return nil
				},
				AgentCheck: func(context.Context, string, command.AgentCheckOptions, io.Writer) error {
					called = "agent check"
					return nil
				},
				AgentOnce:   record("agent once"),
				AgentDaemon: record("agent daemon"),
				AgentFlush:  record("agent flush"),
				Demo: func(context.Context, command.DemoOptions, io.Writer) error {
					called = "demo"
					return nil
				},
				Version: "v0.0.0-installcheck",
			}
			var stdout, stderr bytes.Buffer
			code := command.Run(context.Background(), argv, &stdout, &stderr, roles)
			if code != 0 {
				t.Errorf("docs/install.md: %q does not parse (exit %d): %s", line, code, strings.TrimSpace(stderr.String()))
				continue
			}
			switch {
			case called != "":
			case strings.Contains(stdout.String(), "lightmetrics v0.0.0-installcheck"):
				called = "version"
			case slices.Contains(argv, "--help") || slices.Contains(argv, "-h"):
				called = "help"
			default:
				t.Errorf("docs/install.md: %q ran no command", line)
				continue
			}
			spelling := "symlink"
			if argv[0] == "lightmetrics" {
				spelling = "subcommand"
			}
			seen[spelling+" "+called] = true
		}
	}
	if found == 0 {
		t.Fatal("docs/install.md shows no lightmetrics command in a shell code block")
	}
	// The page must show every action, in both spellings where there are two.
	actions := []string{"collector check-config", "collector run", "agent check", "agent once", "agent daemon", "agent flush"}
	var want []string
	for _, a := range actions {
		want = append(want, "symlink "+a, "subcommand "+a)
	}
	want = append(want, "subcommand demo")
	for _, w := range want {
		if !seen[w] {
			t.Errorf("docs/install.md: no shell code block shows %q", w)
		}
	}
}

func TestShellParsing(t *testing.T) {
	tests := []struct {
		line string
		want [][]string
	}{
		{`lm-agent --once /etc/lightmetrics/agent.toml`, [][]string{{"lm-agent", "--once", "/etc/lightmetrics/agent.toml"}}},
		{`STAGE=/tmp/x bash scripts/install-staging.sh # comment`, [][]string{{"bash", "scripts/install-staging.sh"}}},
		{`sudo -u lightmetrics lm-collector --check-config "a b.toml" 2>&1 | head`, [][]string{{"lm-collector", "--check-config", "a b.toml"}, {"head"}}},
		{`curl -H "Authorization: Bearer $(cat t)" x > out && lightmetrics version`, [][]string{{"curl", "-H", "Authorization: Bearer $(cat t)", "x"}, {"lightmetrics", "version"}}},
		{`echo $(cat a b) 'q;|' >&2; go run . demo`, [][]string{{"echo", "$(cat a b)", "q;|"}, {"go", "run", ".", "demo"}}},
	}
	for _, tt := range tests {
		got := commandsOf(tt.line)
		if !slices.EqualFunc(got, tt.want, slices.Equal[[]string]) {
			t.Errorf("commandsOf(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
	argvTests := []struct {
		args []string
		want []string
		ok   bool
	}{
		{[]string{"/usr/local/bin/lm-agent", "x"}, []string{"lm-agent", "x"}, true},
		{[]string{"go", "run", ".", "demo", "--prepare-only"}, []string{"lightmetrics", "demo", "--prepare-only"}, true},
		{[]string{"go", "run", "./scripts/benchingest"}, nil, false},
		{[]string{"curl", "x"}, nil, false},
	}
	for _, tt := range argvTests {
		got, ok := lightmetricsArgs(tt.args)
		if ok != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("lightmetricsArgs(%q) = %q, %v; want %q, %v", tt.args, got, ok, tt.want, tt.ok)
		}
	}
}
