package layout

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
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
		pkgs, err := parser.ParseDir(fset, filepath.Join("..", "..", dir), func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkgs) != 1 {
			t.Fatalf("%s: %d packages", dir, len(pkgs))
		}
		for _, p := range pkgs {
			for _, name := range undocumented(doc.New(p, mod+"/"+dir, 0)) {
				t.Errorf("%s: %s has no doc comment", dir, name)
			}
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
