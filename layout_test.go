package aggregator

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestImportsPointInward: each package imports only the project's packages
// the layout allows (README, "Layout"), in its non-test files.
func TestImportsPointInward(t *testing.T) {
	t.Parallel()
	const root = "github.com/planetgo/aggregator"
	allowed := map[string][]string{
		".":        {},
		"config":   {root},
		"fetch":    {root},
		"storage":  {root},
		"publish":  {root},
		"sanitize": {root},
		"poll":     {root, root + "/fetch", root + "/storage"},
		"metrics":  {root, root + "/poll", root + "/storage", root + "/websub"},
		"websub":   {root, root + "/fetch", root + "/storage"},
		"daemon":   {root, root + "/metrics", root + "/poll", root + "/publish", root + "/storage", root + "/websub"},
	}
	for dir, allow := range allowed {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if (path == root || strings.HasPrefix(path, root+"/")) && !slices.Contains(allow, path) {
					t.Errorf("%s imports %s", file, path)
				}
			}
		}
	}
}
