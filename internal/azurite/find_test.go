package azurite

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTree builds root/go.mod (with the given module line) and, if withBin,
// an executable root/tools/azurite/node_modules/.bin/azurite.
func fakeTree(t *testing.T, moduleLine string, withBin bool) string {
	t.Helper()
	root := t.TempDir()
	write(t, filepath.Join(root, "go.mod"), moduleLine+"\n\ngo 1.26\n", 0o644)
	if withBin {
		write(t, filepath.Join(root, localExecutable), "#!/bin/sh\n", 0o755)
	}
	return root
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func noPath(string) (string, error) { return "", errors.New("not on PATH") }

func TestFindFromModuleRoot(t *testing.T) {
	root := fakeTree(t, "module github.com/azdurable/azdurable", true)
	deep := filepath.Join(root, "internal", "x", "y")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := find("", []string{deep}, noPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, localExecutable); got != want {
		t.Errorf("find = %q, want %q", got, want)
	}
}

func TestFindSkipsOtherModules(t *testing.T) {
	root := fakeTree(t, `module "github.com/azdurable/azdurable" // quoted`, true)
	// A nested module with its own Azurite must not be mistaken for ours.
	nested := filepath.Join(root, "samples", "other")
	write(t, filepath.Join(nested, "go.mod"), "module example.com/other\n", 0o644)
	write(t, filepath.Join(nested, localExecutable), "#!/bin/sh\n", 0o755)
	got, err := find("", []string{nested}, noPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, localExecutable); got != want {
		t.Errorf("find = %q, want %q", got, want)
	}
}

func TestFindEnvWins(t *testing.T) {
	root := fakeTree(t, "module github.com/azdurable/azdurable", true)
	custom := filepath.Join(t.TempDir(), "my-azurite")
	write(t, custom, "#!/bin/sh\n", 0o755)
	got, err := find(custom, []string{root}, noPath)
	if err != nil || got != custom {
		t.Errorf("find = %q, %v; want %q", got, err, custom)
	}
	// A wrong override is an error, not a silent fall-through to another copy.
	if _, err := find(filepath.Join(root, "missing"), []string{root}, noPath); err == nil || !strings.Contains(err.Error(), EnvExecutable) {
		t.Errorf("bad %s: err = %v", EnvExecutable, err)
	}
	notExec := filepath.Join(t.TempDir(), "azurite")
	write(t, notExec, "", 0o644)
	if _, err := find(notExec, nil, noPath); err == nil {
		t.Error("non-executable override accepted")
	}
}

func TestFindFallsBackToPath(t *testing.T) {
	root := fakeTree(t, "module github.com/azdurable/azdurable", false)
	got, err := find("", []string{root}, func(name string) (string, error) { return "/opt/bin/" + name, nil })
	if err != nil || got != "/opt/bin/azurite" {
		t.Errorf("find = %q, %v", got, err)
	}
}

func TestFindNotFoundSaysHowToFix(t *testing.T) {
	root := fakeTree(t, "module example.com/not-azdurable", true)
	_, err := find("", []string{root}, noPath)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if want := `run "make tools" (npm ci --prefix tools/azurite) or set AZDURABLE_AZURITE`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

// TestFindExecutableHere checks the real lookup from this package's
// directory: make test installs Azurite first, so it must be found.
func TestFindExecutableHere(t *testing.T) {
	p, err := FindExecutable()
	if err != nil {
		t.Fatal(err)
	}
	if checkExecutable(p) != nil {
		t.Errorf("FindExecutable returned %q, which is not executable", p)
	}
}

func TestModulePathOf(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ content, want string }{
		{"module github.com/azdurable/azdurable\n", modulePath},
		{"// comment\nmodule\tgithub.com/azdurable/azdurable // trailing\n", modulePath},
		{"module `github.com/azdurable/azdurable`\n", modulePath},
		{"modules github.com/azdurable/azdurable\n", ""},
		{"go 1.26\n", ""},
	} {
		p := filepath.Join(dir, "go.mod")
		write(t, p, tt.content, 0o644)
		if got := modulePathOf(p); got != tt.want {
			t.Errorf("modulePathOf(%q) = %q, want %q", tt.content, got, tt.want)
		}
	}
}
