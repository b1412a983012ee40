package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/planetgo/aggregator/config"
)

// corpusDir is the shared corpus of real-world feeds, beside the project.
const corpusDir = "../../../shared/corpus"

// corpus serves groups of the shared corpus from a loopback server, one
// source per file.
type corpus struct {
	srv   *httptest.Server
	files map[string]string // source name → file path
}

// newCorpus serves the files of the named corpus groups, or skips the test
// when the corpus is absent.
func newCorpus(t *testing.T, groups ...string) *corpus {
	t.Helper()
	var paths []string
	for _, group := range groups {
		g, _ := filepath.Glob(filepath.Join(corpusDir, group, "*"))
		paths = append(paths, g...)
	}
	if len(paths) == 0 {
		t.Skipf("no corpus at %s (it lives in ../shared beside the project, which a plain clone lacks)", corpusDir)
	}
	sort.Strings(paths)
	c := &corpus{
		srv:   httptest.NewServer(http.StripPrefix("/corpus/", http.FileServer(http.Dir(corpusDir)))),
		files: make(map[string]string, len(paths)),
	}
	t.Cleanup(c.srv.Close)
	for i, path := range paths {
		c.files[fmt.Sprintf("c%03d", i)] = path
	}
	return c
}

// config writes and loads a config whose sources are the corpus files, with
// header's keys before them, and its database in a temporary directory.
// The tests give fetch.timeout 5m: the default 30 s covers parsing, and a
// 1.6 MB corpus feed came near it under -race on a loaded machine, while
// what they test is identity and dedup, not time.
func (c *corpus) config(t *testing.T, header string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "database: %s\n%s\nsources:\n", filepath.Join(dir, "corpus.db"), header)
	names := make([]string, 0, len(c.files))
	for name := range c.files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rel, _ := filepath.Rel(corpusDir, c.files[name])
		fmt.Fprintf(&b, "  - {name: %s, url: %q}\n", name, c.srv.URL+"/corpus/"+filepath.ToSlash(rel))
	}
	return writeAndLoadConfig(t, dir, b.String())
}
