package layout

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// libraryPackages are the packages other Go programs use (README "Use from
// Go"): every exported name in them has a doc comment.
var libraryPackages = []string{"oauth", "ipc", "ipc/ipcsource"}

// TestDocComments: every exported constant, variable, type, function and
// method of the library packages, and the package itself, is documented.
func TestDocComments(t *testing.T) {
	for _, dir := range libraryPackages {
		fset := token.NewFileSet()
		entries, err := os.ReadDir(filepath.Join("..", "..", dir))
		if err != nil {
			t.Fatal(err)
		}
		var files []*ast.File
		for _, e := range entries {
			if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
				f, err := parser.ParseFile(fset, filepath.Join("..", "..", dir, n), nil, parser.ParseComments)
				if err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
			}
		}
		d, err := doc.NewFromFiles(fset, files, mod+"/"+dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range undocumented(d) {
			t.Errorf("%s: %s has no doc comment", dir, name)
		}
	}
}

// undocumented lists the exported names of d without a doc comment.
func undocumented(d *doc.Package) []string {
	var out []string
	if d.Doc == "" {
		out = append(out, "package "+d.Name)
	}
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			if v.Doc != "" {
				continue // a documented group
			}
			for _, s := range v.Decl.Specs {
				vs := s.(*ast.ValueSpec)
				for _, n := range vs.Names {
					if n.IsExported() && vs.Doc == nil && vs.Comment == nil {
						out = append(out, n.Name)
					}
				}
			}
		}
	}
	funcs := func(prefix string, fs []*doc.Func) {
		for _, f := range fs {
			if f.Doc == "" {
				out = append(out, prefix+f.Name)
			}
		}
	}
	values(d.Consts)
	values(d.Vars)
	funcs("", d.Funcs)
	for _, t := range d.Types {
		if t.Doc == "" {
			out = append(out, "type "+t.Name)
		}
		values(t.Consts)
		values(t.Vars)
		funcs("", t.Funcs)
		funcs(t.Name+".", t.Methods)
	}
	return out
}
