package store

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStore_ImportsOnlyAllowedPackages keeps the dependency arrow of
// STYLE.md §3.1: store sees the stdlib, bbolt, protobuf and fsmpb, and
// nothing of raft, gRPC or the rest of raftkv.
func TestStore_ImportsOnlyAllowedPackages(t *testing.T) {
	allowed := []string{
		"go.etcd.io/bbolt",
		"google.golang.org/protobuf",
		"github.com/raftkv/raftkv/proto/fsmpb",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if isStdlib(path) || hasAllowedPrefix(path, allowed) {
				continue
			}
			t.Errorf("%s imports %q; store may import only the stdlib, bbolt, protobuf and proto/fsmpb", name, path)
		}
	}
}

// isStdlib reports whether path looks like a standard library import: no
// dot in its first element.
func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// hasAllowedPrefix reports whether path is one of allowed or inside one.
func hasAllowedPrefix(path string, allowed []string) bool {
	for _, a := range allowed {
		if path == a || strings.HasPrefix(path, a+"/") {
			return true
		}
	}
	return false
}
