package citemplates

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// A function of the Dagger module (or its constructor), as `dagger call` names it.
type function struct {
	name string
	args map[string]argument // by CLI name (--name)
	// chains: it returns the module's object, so that another function can follow.
	chains bool
}

// An argument of a module function.
type argument struct {
	bool     bool // a flag that takes no value
	secret   bool // a *dagger.Secret: given as env:NAME or file:PATH
	required bool // neither +optional nor +default
}

// A module is the constructor and the functions of the Dagger module's main object.
type module struct {
	constructor *function
	functions   map[string]*function
}

// readModule reads the module's Go source in dir (.dagger): the New constructor and
// the exported methods of *object, with their arguments as Dagger names them. The
// generated bindings (dagger.gen.go) are not the module's own code and are skipped.
func readModule(dir, object string) (*module, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	m := &module{functions: map[string]*function{}}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || filepath.Base(name) == "dagger.gen.go" {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || !fd.Name.IsExported() {
				continue
			}
			switch {
			case fd.Recv == nil && fd.Name.Name == "New":
				m.constructor = readFunction(f, fd, object)
			case fd.Recv != nil && isPointerTo(fd.Recv.List[0].Type, object):
				fn := readFunction(f, fd, object)
				m.functions[fn.name] = fn
			}
		}
	}
	if m.constructor == nil {
		return nil, fmt.Errorf("%s: no func New: the module has no constructor", dir)
	}
	if len(m.functions) == 0 {
		return nil, fmt.Errorf("%s: no exported method of *%s", dir, object)
	}
	return m, nil
}

// readFunction reads a function's arguments, and its pragmas from the comments
// written before each.
func readFunction(f *ast.File, fd *ast.FuncDecl, object string) *function {
	fn := &function{name: kebab(fd.Name.Name), args: map[string]argument{}}
	if r := fd.Type.Results; r != nil && len(r.List) > 0 {
		fn.chains = isPointerTo(r.List[0].Type, object)
	}
	prev := fd.Type.Params.Opening
	for _, field := range fd.Type.Params.List {
		comments := commentsBetween(f, prev, field.Pos())
		prev = field.End()
		if sel, ok := field.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Context" {
			continue // ctx, which Dagger gives
		}
		arg := argument{
			bool:     isIdent(field.Type, "bool"),
			secret:   isPointerToSelector(field.Type, "dagger", "Secret"),
			required: !strings.Contains(comments, "+optional") && !strings.Contains(comments, "+default"),
		}
		for _, n := range field.Names {
			fn.args[kebab(n.Name)] = arg
		}
	}
	return fn
}

// commentsBetween is the text of the comments of f between from and to.
func commentsBetween(f *ast.File, from, to token.Pos) string {
	var b strings.Builder
	for _, g := range f.Comments {
		if g.Pos() > from && g.End() <= to {
			for _, c := range g.List {
				b.WriteString(c.Text + "\n")
			}
		}
	}
	return b.String()
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func isPointerTo(e ast.Expr, name string) bool {
	star, ok := e.(*ast.StarExpr)
	return ok && isIdent(star.X, name)
}

func isPointerToSelector(e ast.Expr, pkg, name string) bool {
	star, ok := e.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && isIdent(sel.X, pkg) && sel.Sel.Name == name
}

// kebab is how the dagger CLI names a Go function or argument: WithCluster is
// with-cluster, rollbackOnFailure --rollback-on-failure, APIServer api-server. A word
// starts at an upper-case letter after a lower-case one or a digit, and at the last
// upper-case letter of a run that a lower-case one follows.
func kebab(name string) string {
	r := []rune(name)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('-')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}
