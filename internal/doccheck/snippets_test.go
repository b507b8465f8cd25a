package doccheck_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGoSnippetsMatchExamples checks that every Go snippet of
// docs/EXAMPLES.md followed directly by its output shows an output that an
// Example function of client/example_test.go prints (and go test checks):
// the snippets mirror the examples, and this notices when they drift apart.
func TestGoSnippetsMatchExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root(t), "docs/EXAMPLES.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root(t), "client/example_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	// The "// Output:" comment lines of each Example, as plain text.
	var outputs []string
	for _, m := range regexp.MustCompile(`(?m)^\t// Output:\n((?:\t//.*\n)+)`).FindAllStringSubmatch(string(src), -1) {
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(m[1], "\n"), "\n") {
			lines = append(lines, strings.TrimPrefix(strings.TrimPrefix(l, "\t//"), " "))
		}
		outputs = append(outputs, strings.Join(lines, "\n"))
	}
	if len(outputs) == 0 {
		t.Fatal("no // Output: in client/example_test.go")
	}
	// A go block directly followed by a plain block: snippet and output.
	// The snippet's lines never start with a fence, so that a go block
	// without an output is not paired with a later block's output.
	re := regexp.MustCompile("(?m)^```go\n(?:[^`\n].*\n|\n)*?```\n```\n((?s:.*?))\n```")
	n := 0
	for _, m := range re.FindAllStringSubmatchIndex(string(doc), -1) {
		n++
		out := string(doc[m[2]:m[3]])
		line := strings.Count(string(doc[:m[0]]), "\n") + 1
		found := false
		for _, o := range outputs {
			if strings.Contains(o, out) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("docs/EXAMPLES.md:%d: the output of this Go snippet is printed by no Example of client/example_test.go:\n%s", line, out)
		}
	}
	if n == 0 {
		t.Error("docs/EXAMPLES.md has no Go snippet followed by its output")
	}
	t.Logf("%d Go snippets checked", n)
}
