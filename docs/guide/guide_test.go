// Package guide holds the checks that keep the users' guide (the Markdown
// pages of this folder) true to the code.
//
// Design note. The guide is read as data. Every ```go block is a complete
// file and is vetted in a throwaway module whose go.mod replaces
// github.com/azdurable/azdurable with this checkout (go.sum copied, so it
// builds from the module cache alone). Every command line the guide names
// — "$ azdurable ..." and "$ ./hello ..." lines in console and sh blocks,
// `azdurable ...` spans in the text, and the args of the containers in its
// YAML manifests — is checked against the command tree of the azdurable
// binary built from this checkout, read from its --help pages; every
// --flag mentioned anywhere must be a flag of some command, or one of the
// few other programs' flags listed in otherFlags. The getting-started page
// is run as written on the harness's Azurite (its --local flag replaced by
// the harness's connection string and its hub name by a fresh one).
package guide

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azdurable/azdurable/internal/azuritetest"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) { azuritetest.Main(m) }

// block is a fenced code block of a page.
type block struct {
	page string
	line int // of the opening fence, 1-based
	lang string
	text string
}

func (b block) String() string { return fmt.Sprintf("%s:%d", b.page, b.line) }

// page is one Markdown file of the guide.
type page struct {
	name   string
	blocks []block
	prose  string // the text outside code blocks
}

func readPages(t *testing.T) []page {
	t.Helper()
	names, err := filepath.Glob("*.md")
	if err != nil || len(names) == 0 {
		t.Fatalf("no guide pages found: %v", err)
	}
	sort.Strings(names)
	var out []page
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parsePage(name, string(data)))
	}
	return out
}

// frontPath is the repository's README, the front page, whose Go blocks,
// command lines, flags and links are checked as the guide's are.
const frontPath = "../../README.md"

// frontPage reads the repository's README.
func frontPage(t *testing.T) page {
	t.Helper()
	data, err := os.ReadFile(frontPath)
	if err != nil {
		t.Fatal(err)
	}
	return parsePage(frontPath, string(data))
}

// checkedPages are the guide's pages and the front page.
func checkedPages(t *testing.T) []page {
	return append(readPages(t), frontPage(t))
}

func parsePage(name, text string) page {
	p := page{name: name}
	var prose strings.Builder
	var cur *block
	var body strings.Builder
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &block{page: name, line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))}
			body.Reset()
		case cur != nil && trimmed == "```":
			cur.text = body.String()
			p.blocks = append(p.blocks, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteString("\n")
		default:
			prose.WriteString(line)
			prose.WriteString("\n")
		}
	}
	p.prose = prose.String()
	return p
}

func TestPagesAreLinkedFromTheIndex(t *testing.T) {
	index, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range readPages(t) {
		if p.name != "README.md" && !strings.Contains(string(index), "("+p.name+")") {
			t.Errorf("README.md does not link %s", p.name)
		}
	}
	anchors := map[string]map[string]bool{}
	for _, p := range checkedPages(t) {
		anchors[p.name] = headingAnchors(p.prose)
	}
	for _, p := range readPages(t) {
		for _, m := range regexp.MustCompile(`\]\(([^)#]+\.md)(?:#([^)]+))?\)`).FindAllStringSubmatch(p.prose, -1) {
			if _, err := os.Stat(m[1]); err != nil {
				t.Errorf("%s links %s, which does not exist", p.name, m[1])
				continue
			}
			if a, ok := anchors[m[1]]; ok && m[2] != "" && !a[m[2]] {
				t.Errorf("%s links %s#%s, which has no such heading", p.name, m[1], m[2])
			}
		}
	}
	for _, p := range checkedPages(t) {
		for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(p.prose, -1) {
			if !anchors[p.name][m[1]] {
				t.Errorf("%s links #%s, a heading it does not have", p.name, m[1])
			}
		}
	}
	for _, p := range readPages(t) {
		for _, b := range p.blocks {
			if b.lang == "" {
				t.Errorf("%s: code block without a language (go, console, sh, yaml, json or text)", b)
			}
		}
	}
}

// headingAnchors returns the anchors a code host gives the headings of a
// page: lower case, spaces as hyphens, punctuation dropped.
func headingAnchors(prose string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(prose, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range h {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		out[b.String()] = true
	}
	return out
}

// checkout is the repository root.
func checkout(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// goCmd is a go command in dir with the environment of a throwaway module
// that builds from the module cache.
func goCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	return cmd
}

// newModule makes a module named name in a temporary folder that requires
// this checkout through a replace directive, with its go.sum.
func newModule(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	root := checkout(t)
	run(t, goCmd(t.Context(), dir, "mod", "init", name))
	run(t, goCmd(t.Context(), dir, "mod", "edit",
		"-require", "github.com/azdurable/azdurable@v0.0.0",
		"-replace", "github.com/azdurable/azdurable="+root))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// TestGoBlocksCompile vets every ```go block of the guide as a file of its
// own package in a module that uses this checkout, and runs the blocks that
// are tests.
func TestGoBlocksCompile(t *testing.T) {
	dir := newModule(t, "example.com/guide")
	n := 0
	folder := strings.NewReplacer("../", "", "/", "_", ".md", "")
	for _, p := range checkedPages(t) {
		for _, b := range p.blocks {
			if b.lang != "go" {
				continue
			}
			n++
			pkg := filepath.Join(dir, fmt.Sprintf("b%02d_%s_%d", n, folder.Replace(p.name), b.line))
			if err := os.MkdirAll(pkg, 0o755); err != nil {
				t.Fatal(err)
			}
			file := "main.go"
			if strings.Contains(b.text, "func Test") {
				file = "x_test.go"
			}
			if err := os.WriteFile(filepath.Join(pkg, file), []byte(b.text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no go blocks found")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	run(t, goCmd(ctx, dir, "vet", "./..."))
	// The blocks that are tests (testing.md) must pass, too.
	run(t, goCmd(ctx, dir, "test", "-count=1", "./..."))
	// gofmt: the guide's Go reads as formatted Go.
	out := run(t, exec.CommandContext(ctx, "gofmt", "-l", dir))
	if strings.TrimSpace(out) != "" {
		t.Errorf("go blocks not gofmt-formatted (folders are b<n>_<page>_<line>):\n%s", out)
	}
}

// cli is the azdurable command tree, read from the --help pages of the
// binary built from this checkout.
type cli struct {
	bin   string
	mu    sync.Mutex
	pages map[string]*helpPage
}

type helpPage struct {
	subcommands map[string]bool
	flags       map[string]bool
	defaults    map[string]string
	positional  bool // its usage takes arguments, such as bench's SCENARIO
}

var (
	cliOnce sync.Once
	cliTree *cli
	cliErr  error
)

func azdurable(t *testing.T) *cli {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "azdurable-guide-")
		if err != nil {
			cliErr = err
			return
		}
		bin := filepath.Join(dir, "azdurable")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/azdurable")
		cmd.Dir = checkout(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go build ./cmd/azdurable: %v\n%s", err, out)
			return
		}
		cliTree = &cli{bin: bin, pages: map[string]*helpPage{}}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliTree
}

var (
	helpCommand = regexp.MustCompile(`^  ([a-z][a-z0-9-]*)\s`)
	helpFlag    = regexp.MustCompile(`^\s+(?:-[a-zA-Z], )?--([a-z0-9-]+)(.*)$`)
	helpDefault = regexp.MustCompile(`\(default (.*)\)\s*$`)
)

// help returns the help page of the command at path (nil if it has none).
func (c *cli) help(t *testing.T, path []string) *helpPage {
	t.Helper()
	key := strings.Join(path, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pages[key]; ok {
		return p
	}
	out, err := exec.Command(c.bin, append(append([]string{}, path...), "--help")...).Output()
	if err != nil {
		t.Fatalf("azdurable %s --help: %v", key, err)
	}
	p := &helpPage{subcommands: map[string]bool{}, flags: map[string]bool{}, defaults: map[string]string{}}
	section := ""
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasSuffix(line, ":") && !strings.HasPrefix(line, " ") {
			section = line
			continue
		}
		switch section {
		case "Usage:":
			// "  azdurable bench SCENARIO [flags]": words after the
			// command's path other than [flags] and [command] are
			// positional arguments.
			w := strings.Fields(line)
			if len(w) > 1+len(path) {
				for _, a := range w[1+len(path):] {
					if a != "[flags]" && a != "[command]" {
						p.positional = true
					}
				}
			}
		case "Available Commands:":
			if m := helpCommand.FindStringSubmatch(line); m != nil {
				p.subcommands[m[1]] = true
			}
		case "Flags:", "Global Flags:":
			if m := helpFlag.FindStringSubmatch(line); m != nil {
				p.flags[m[1]] = true
				if d := helpDefault.FindStringSubmatch(m[2]); d != nil {
					p.defaults[m[1]] = d[1]
				}
			}
		}
	}
	c.pages[key] = p
	return p
}

// allFlags returns every flag of every command.
func (c *cli) allFlags(t *testing.T) map[string]bool {
	all := map[string]bool{}
	var walk func(path []string)
	walk = func(path []string) {
		p := c.help(t, path)
		for f := range p.flags {
			all[f] = true
		}
		for s := range p.subcommands {
			if s != "help" && s != "completion" {
				walk(append(append([]string{}, path...), s))
			}
		}
	}
	walk(nil)
	return all
}

// check reports what is wrong with the azdurable command line args (the
// words after the program's name): an unknown command or subcommand, or a
// flag the command does not have.
func (c *cli) check(t *testing.T, args []string) []string {
	var path []string
	var problems []string
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			break
		}
		if strings.HasPrefix(a, "<") || strings.HasPrefix(a, "[") {
			return nil // a placeholder such as <command>: nothing to check
		}
		p := c.help(t, path)
		if len(p.subcommands) == 0 {
			break // a positional argument
		}
		if alts := strings.Split(a, "|"); len(alts) > 1 && p.subcommands[alts[0]] {
			// "schedules create|list|pause": every alternative is a
			// command; their flags are not checked.
			for _, alt := range alts {
				if !p.subcommands[alt] {
					problems = append(problems, fmt.Sprintf("azdurable %s has no command %q", strings.Join(path, " "), alt))
				}
			}
			return problems
		}
		if !p.subcommands[a] && p.positional {
			break // bench chain: an argument of a command that also has subcommands
		}
		if !p.subcommands[a] {
			problems = append(problems, fmt.Sprintf("azdurable %s has no command %q", strings.Join(path, " "), a))
			return problems
		}
		path = append(path, a)
	}
	p := c.help(t, path)
	for _, a := range args[i:] {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name := strings.TrimPrefix(a, "--")
		name, _, _ = strings.Cut(name, "=")
		if !p.flags[name] {
			problems = append(problems, fmt.Sprintf("azdurable %s has no flag --%s", strings.Join(path, " "), name))
		}
	}
	return problems
}

// words splits a shell command line into words, honouring single and
// double quotes (enough for the guide's examples).
func words(line string) []string {
	var out []string
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// programs are the names by which the guide runs an azdurable command
// line: the command itself and the binaries of the guide's own programs
// (getting started, the entities page, the README), which are built with
// cli.Main and have the same built-in commands.
var programs = map[string]bool{"azdurable": true, "./hello": true, "./counter": true, "./myapp": true}

// commandLines returns the azdurable command lines of a shell block
// ("$ " lines in console blocks, every line in sh blocks), as args after
// the program's name.
func commandLines(b block) [][]string {
	var out [][]string
	for _, line := range strings.Split(b.text, "\n") {
		line = strings.TrimSpace(line)
		switch b.lang {
		case "console":
			if !strings.HasPrefix(line, "$ ") {
				continue
			}
			line = strings.TrimPrefix(line, "$ ")
		case "sh", "bash":
		default:
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		w := words(line)
		if len(w) > 0 && programs[w[0]] {
			out = append(out, w[1:])
		}
	}
	return out
}

// otherFlags are flags of other programs that the guide mentions.
var otherFlags = map[string]bool{
	"inMemoryPersistence": true, // azurite
	"skipApiVersionCheck": true, // azurite
	"loose":               true, // azurite
	"assignee":            true, // az role assignment create
	"role":                true, // az role assignment create
	"scope":               true, // az role assignment create
}

var (
	proseCommand = regexp.MustCompile("`(azdurable [^`]*)`")
	proseFlag    = regexp.MustCompile(`(?:^|[\s(` + "`" + `])--([a-zA-Z][a-zA-Z0-9-]*)`)
)

// TestCommandsAndFlagsExist fails when a command or flag the guide names
// is not in the azdurable binary built from this checkout.
func TestCommandsAndFlagsExist(t *testing.T) {
	c := azdurable(t)
	all := c.allFlags(t)
	lines := 0
	for _, p := range checkedPages(t) {
		for _, b := range p.blocks {
			for _, args := range commandLines(b) {
				lines++
				for _, problem := range c.check(t, args) {
					t.Errorf("%s: %s", b, problem)
				}
			}
			if b.lang == "yaml" {
				for _, args := range manifestCommands(t, b) {
					lines++
					for _, problem := range c.check(t, args) {
						t.Errorf("%s: %s", b, problem)
					}
				}
			}
		}
		for _, m := range proseCommand.FindAllStringSubmatch(p.prose, -1) {
			lines++
			for _, problem := range c.check(t, words(m[1])[1:]) {
				t.Errorf("%s: `%s`: %s", p.name, m[1], problem)
			}
		}
		text := p.prose
		for _, b := range p.blocks {
			if b.lang != "go" {
				text += b.text
			}
		}
		for _, m := range proseFlag.FindAllStringSubmatch(text, -1) {
			if !all[m[1]] && !otherFlags[m[1]] {
				t.Errorf("%s: --%s is not a flag of any azdurable command", p.name, m[1])
			}
		}
	}
	if lines < 10 {
		t.Errorf("only %d command lines found in the guide; the parser is broken", lines)
	}
}

// TestCheckerCatchesStaleNames proves the checker fails on names that do
// not exist, so that a passing TestCommandsAndFlagsExist means something.
func TestCheckerCatchesStaleNames(t *testing.T) {
	c := azdurable(t)
	for _, args := range [][]string{
		{"instances", "frobnicate", "x"},
		{"worker", "--no-such-flag", "1"},
		{"nosuchcommand"},
		{"hub", "info", "--wait"},
		{"schedules", "create|frobnicate"},
		{"bench", "chain", "--no-such-flag"},
	} {
		if len(c.check(t, args)) == 0 {
			t.Errorf("azdurable %s passed the check", strings.Join(args, " "))
		}
	}
	for _, args := range [][]string{
		{"instances", "start", "Hello", "--input", `"x"`, "--wait", "--local"},
		{"worker", "--task-hub", "H", "--drain-timeout=20s", "--log-level", "info"},
		{"entities", "list|get|signal|delete|clean"},
		{"bench", "scaleout", "fanout", "--activity-time", "1s"},
	} {
		if problems := c.check(t, args); len(problems) != 0 {
			t.Errorf("azdurable %s: %v", strings.Join(args, " "), problems)
		}
	}
}

// manifestCommands parses a YAML block (several documents allowed) and
// returns the azdurable command lines of its containers: a container whose
// command or args start with an azdurable command. It fails the test on
// YAML that does not parse, and checks that a pod's
// terminationGracePeriodSeconds exceeds its worker's --drain-timeout.
func manifestCommands(t *testing.T, b block) [][]string {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(b.text))
	var out [][]string
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("%s: YAML does not parse: %v", b, err)
			return nil
		}
		walkPods(doc, func(pod map[string]any) {
			grace, hasGrace := pod["terminationGracePeriodSeconds"].(int)
			containers, _ := pod["containers"].([]any)
			for _, c := range containers {
				cm, _ := c.(map[string]any)
				var args []string
				for _, key := range []string{"command", "args"} {
					list, _ := cm[key].([]any)
					for _, a := range list {
						args = append(args, fmt.Sprint(a))
					}
				}
				// The first word is the program when command is given.
				if _, ok := cm["command"]; ok && len(args) > 0 {
					args = args[1:]
				}
				if len(args) == 0 {
					continue
				}
				out = append(out, args)
				if args[0] == "worker" {
					drain := 12 * time.Second
					for i, a := range args {
						v, ok := strings.CutPrefix(a, "--drain-timeout=")
						if !ok && a == "--drain-timeout" && i+1 < len(args) {
							v, ok = args[i+1], true
						}
						if ok {
							d, err := time.ParseDuration(v)
							if err != nil {
								t.Errorf("%s: --drain-timeout %q: %v", b, v, err)
							}
							drain = d
						}
					}
					if !hasGrace {
						t.Errorf("%s: the worker's pod has no terminationGracePeriodSeconds", b)
					} else if time.Duration(grace)*time.Second <= drain {
						t.Errorf("%s: terminationGracePeriodSeconds %d is not above --drain-timeout %s", b, grace, drain)
					}
				}
			}
		})
	}
	return out
}

// walkPods calls f for every map that has a "containers" key.
func walkPods(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["containers"]; ok {
			f(x)
		}
		for _, e := range x {
			walkPods(e, f)
		}
	case []any:
		for _, e := range x {
			walkPods(e, f)
		}
	}
}

// TestGettingStarted runs the getting-started page as written: a fresh
// module, the page's go mod edit (its replace pointed at this checkout),
// its main.go from the page, go build, the worker and the
// instances start command of its transcripts, on the harness's Azurite,
// with --local replaced by the harness's connection string and the hub by
// a fresh one. The instance must complete with the output the page shows.
func TestGettingStarted(t *testing.T) {
	data, err := os.ReadFile("getting-started.md")
	if err != nil {
		t.Fatal(err)
	}
	p := parsePage("getting-started.md", string(data))
	var mainGo, modName string
	var modEdit, worker, start, del []string
	var wantOutput string
	for _, b := range p.blocks {
		if b.lang == "go" && mainGo == "" {
			mainGo = b.text
		}
		for _, line := range strings.Split(b.text, "\n") {
			line = strings.TrimPrefix(strings.TrimSpace(line), "$ ")
			w := words(line)
			switch {
			case len(w) == 4 && w[0] == "go" && w[1] == "mod" && w[2] == "init":
				modName = w[3]
			case len(w) > 3 && w[0] == "go" && w[1] == "mod" && w[2] == "edit" && modEdit == nil:
				modEdit = w[1:]
			case len(w) > 1 && w[0] == "./hello" && w[1] == "worker" && worker == nil:
				worker = w[1:]
			case len(w) > 2 && w[0] == "./hello" && w[1] == "instances" && w[2] == "start" && start == nil:
				start = w[1:]
			case len(w) > 2 && w[0] == "./hello" && w[1] == "hub" && w[2] == "delete" && del == nil:
				del = w[1:]
			case strings.HasPrefix(line, "Output:") && wantOutput == "":
				wantOutput = strings.TrimSpace(strings.TrimPrefix(line, "Output:"))
			}
		}
	}
	if mainGo == "" || modName == "" || modEdit == nil || worker == nil || start == nil || del == nil || wantOutput == "" {
		t.Fatalf("getting-started.md lacks a step: main.go %t, go mod init %q, go mod edit %q, worker %q, start %q, hub delete %q, output %q",
			mainGo != "", modName, modEdit, worker, start, del, wantOutput)
	}

	dir := newModule(t, modName)
	// The page's go mod edit, with its replace pointed at this checkout
	// instead of a sibling folder: the module must build with it.
	const replace = "-replace=github.com/azdurable/azdurable="
	replaced := false
	for i, a := range modEdit {
		if strings.HasPrefix(a, replace) {
			modEdit[i] = replace + checkout(t)
			replaced = true
		}
	}
	if !replaced {
		t.Fatalf("getting-started.md: go mod edit %q has no %s", modEdit, replace)
	}
	run(t, goCmd(t.Context(), dir, modEdit...))
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(mainGo), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	run(t, goCmd(ctx, dir, "build", "-o", "hello", "."))

	conn := azuritetest.ConnectionString(t)
	hub := azuritetest.NewHub(t)
	adapt := func(args []string) []string {
		var out []string
		for i := 0; i < len(args); i++ {
			switch {
			case args[i] == "--local":
				out = append(out, "--connection-string", conn)
			case args[i] == "--task-hub" && i+1 < len(args):
				out = append(out, "--task-hub", hub)
				i++
			default:
				out = append(out, args[i])
			}
		}
		return out
	}
	bin := filepath.Join(dir, "hello")

	w := exec.CommandContext(ctx, bin, adapt(worker)...)
	w.Dir = dir
	stdout, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	w.Stderr = &stderr
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(event string) {
		t.Helper()
		timeout := time.After(5 * time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the worker's output ended before %s; stderr:\n%s", event, stderr.String())
				}
				if strings.Contains(l, `"event":"`+event+`"`) {
					return
				}
			case <-timeout:
				t.Fatalf("no %s line from the worker in 5 minutes; stderr:\n%s", event, stderr.String())
			}
		}
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = w.Process.Kill()
			_ = w.Wait()
		}
	}()
	waitLine("started")

	s := exec.CommandContext(ctx, bin, append(adapt(start), "--timeout", "5m")...)
	s.Dir = dir
	out := run(t, s)
	if !regexp.MustCompile(`(?m)^Status:\s+Completed$`).MatchString(out) {
		t.Errorf("the instance did not complete:\n%s", out)
	}
	if !strings.Contains(out, "Output:         "+wantOutput+"\n") {
		t.Errorf("output is not %s as the page shows:\n%s", wantOutput, out)
	}

	if err := w.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitLine("stopped")
	if err := w.Wait(); err != nil {
		t.Errorf("the worker exited with %v after Ctrl-C; stderr:\n%s", err, stderr.String())
	}
	stopped = true

	d := exec.CommandContext(ctx, bin, adapt(del)...)
	d.Dir = dir
	run(t, d)
}

// TestWorkerFlagReference checks the configuration reference of
// operations.md: every worker flag has a row, and the default the row
// gives is the one the worker's help prints.
func TestWorkerFlagReference(t *testing.T) {
	data, err := os.ReadFile("operations.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // flag -> default column
	row := regexp.MustCompile("^\\| `--([a-z0-9-]+)` \\| ([^|]*) \\|")
	for _, line := range strings.Split(string(data), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			rows[m[1]] = strings.TrimSpace(m[2])
		}
	}
	h := azdurable(t).help(t, []string{"worker"})
	for f, def := range h.defaults {
		if f == "help" || f == "conformance" {
			continue
		}
		got, ok := rows[f]
		if !ok {
			continue // reported below
		}
		want := def
		if uq, err := strconv.Unquote(def); err == nil {
			want = uq
		}
		if !strings.Contains(got, want) {
			t.Errorf("operations.md: --%s default %q, the worker's help says %s", f, got, def)
		}
	}
	for f := range h.flags {
		if f == "help" || f == "conformance" {
			continue
		}
		if _, ok := rows[f]; !ok {
			t.Errorf("operations.md: the configuration reference has no row for --%s", f)
		}
	}
	for f := range rows {
		if !h.flags[f] {
			t.Errorf("operations.md: --%s is not a worker flag", f)
		}
	}
}

// TestFrontPage checks the repository's README: its links resolve (files,
// and headings of the guide's pages), its code blocks name a language, and
// it still shows what a newcomer is promised there. Its Go blocks and
// command lines are checked by TestGoBlocksCompile and
// TestCommandsAndFlagsExist.
func TestFrontPage(t *testing.T) {
	front := frontPage(t)
	anchors := map[string]map[string]bool{frontPath: headingAnchors(front.prose)}
	for _, p := range readPages(t) {
		anchors[filepath.ToSlash(filepath.Join("docs", "guide", p.name))] = headingAnchors(p.prose)
	}
	root := checkout(t)
	for _, m := range regexp.MustCompile(`\]\(([^)#\s]+)(?:#([^)]+))?\)`).FindAllStringSubmatch(front.prose, -1) {
		if strings.Contains(m[1], "://") {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
			t.Errorf("README.md links %s, which does not exist", m[1])
			continue
		}
		if a, ok := anchors[m[1]]; ok && m[2] != "" && !a[m[2]] {
			t.Errorf("README.md links %s#%s, which has no such heading", m[1], m[2])
		}
	}
	for _, b := range front.blocks {
		if b.lang == "" {
			t.Errorf("%s: code block without a language", b)
		}
	}
	goBlocks := 0
	for _, b := range front.blocks {
		if b.lang == "go" && strings.Contains(b.text, "cli.Main(") {
			goBlocks++
		}
	}
	if goBlocks == 0 {
		t.Error("README.md has no Go example built with cli.Main")
	}
	text := front.prose
	for _, b := range front.blocks {
		text += b.text
	}
	for _, want := range []struct{ text, why string }{
		{"(docs/guide/README.md)", "a link to the guide"},
		{"make demo", "the demo command"},
		{"make test", "the test command"},
		{"wall time", "how long make test takes"},
		{"go install ./cmd/azdurable", "how to install the command"},
		{"-replace=github.com/azdurable/azdurable=", "how to use the module before it is published"},
		{"Node 22", "the Node version Azurite asks for"},
		{"Node 20", "the Node version that works with warnings"},
		{"## Compatibility", "the compatibility table"},
		{"## Status", "the status of each feature"},
		{"](docs/dashboard.png)", "the dashboard's screenshot"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "how to send traces to a collector"},
		{"--metrics-listen", "how to serve metrics"},
		{"entities get Counter", "a console transcript of entities"},
		{"$ azdurable sidecar --local", "the sidecar's transcript"},
		{"@microsoft/durabletask-js", "the JavaScript program of the sidecar"},
		{"--activity-hold", "the scale-out worker flags"},
		{"--no-local-activities", "the scale-out worker flags"},
		{"bench scaleout", "the scale-out bench"},
	} {
		if !strings.Contains(text, want.text) {
			t.Errorf("README.md no longer shows %s (%q)", want.why, want.text)
		}
	}
}
