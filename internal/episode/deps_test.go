package episode_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStepIsPure keeps the episode step and its rules free of I/O and
// clocks: of this module they may import only history, the engine and the
// rules (rules only history, the entity core and uuid's name-based ids), of the standard library nothing that reaches
// the network, the file system or the OS, and they may not read the wall
// clock or the global random source. Backends, the worker and the engine's
// simulator all call them, so they must sit below every one of them.
func TestStepIsPure(t *testing.T) {
	const mod = "github.com/azdurable/azdurable/"
	allowed := map[string][]string{
		".": {mod + "history", mod + "internal/replay", mod + "internal/episode/rules"},
		// uuid for name-based (SHA-1) ids only: a child's execution id is a
		// function of the call.
		"rules": {mod + "history", mod + "internal/entity", "github.com/google/uuid"},
		// The entity core sits below the rules, and is as pure.
		"../entity": {mod + "history", mod + "internal/netjson"},
	}
	bannedStd := []string{"net", "os", "io/ioutil", "database/sql", "syscall", "math/rand"}
	for dir, ok := range allowed {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		checked := 0
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, imp := range file.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.Contains(path, ".") {
					for _, b := range bannedStd {
						if path == b || strings.HasPrefix(path, b+"/") {
							t.Errorf("%s imports %s", f, path)
						}
					}
					continue
				}
				found := false
				for _, a := range ok {
					found = found || path == a
				}
				if !found {
					t.Errorf("%s imports %s", f, path)
				}
			}
			ast.Inspect(file, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok {
					switch id.Name + "." + sel.Sel.Name {
					case "time.Now", "time.Sleep", "time.Since", "time.Until", "time.After", "time.NewTimer", "time.AfterFunc":
						t.Errorf("%s: %s.%s reads the wall clock", fset.Position(sel.Pos()), id.Name, sel.Sel.Name)
					}
				}
				return true
			})
		}
		if checked == 0 {
			t.Fatalf("%s: no source files checked", dir)
		}
	}
}
