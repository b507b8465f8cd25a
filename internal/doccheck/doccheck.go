// Package doccheck finds the shell examples of the Markdown docs that the
// doc check (doccheck_test.go) runs against a real server, and reads the
// markers that tell it how.
//
// # Which blocks run
//
// A fenced block whose info string is sh, bash or console runs when it
// contains "curl", or when it is marked "run". (In a console block, only
// the lines starting with "$ " are commands.) Every other block is text.
//
// # Markers
//
// A marker is an HTML comment on a line of its own, directly above the
// block's opening fence (several may be stacked, one per line). Rendered
// Markdown does not show them.
//
//	<!-- doccheck: skip (why) -->         do not run this block; the reason is required
//	<!-- doccheck: expect 200 409 404 -->  the HTTP statuses of the block's requests, in order
//	<!-- doccheck: run -->                 run this block although it has no curl
//	<!-- doccheck: serve FLAGS -->         run it against a server started with these extra flags
//	<!-- doccheck: setup COMMANDS -->      run these shell commands first (state the doc's text
//	                                       takes for granted, e.g. a key made in another file)
//
// Without "expect", every request of the block must be answered 2xx, and a
// block with curl must send at least one request to the server. Every
// block must exit with status 0 (it runs under set -e -o pipefail).
//
// The same tests check that each Go snippet of docs/EXAMPLES.md followed
// directly by its output shows the output of an Example function of
// client/example_test.go.
package doccheck

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Block is one runnable shell block of a Markdown file.
type Block struct {
	File    string
	Line    int    // line of the opening fence, 1-based
	Script  string // the commands
	HasCurl bool

	Skip       string   // the reason, when marked skip
	Expect     []int    // statuses, when marked expect
	Run        bool     // marked run
	ServeFlags []string // extra serve flags, when marked serve
	Setup      []string // shell commands to run before the block, when marked setup
}

var (
	fenceRe  = regexp.MustCompile("^(```+|~~~+)\\s*([A-Za-z0-9_+-]*)")
	markerRe = regexp.MustCompile(`^\s*<!--\s*doccheck:\s*(.*?)\s*-->\s*$`)
)

// Parse returns the blocks of a Markdown file (named name) that run: those
// with curl or marked run, skipped ones included (with Skip set). A marker
// it does not understand, or one above a block that cannot run, is an
// error.
func Parse(name, text string) ([]Block, error) {
	var blocks []Block
	var markers []string
	var markerLine int
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if m := markerRe.FindStringSubmatch(line); m != nil {
			if len(markers) == 0 {
				markerLine = lineNo
			}
			markers = append(markers, m[1])
			continue
		}
		f := fenceRe.FindStringSubmatch(line)
		if f == nil {
			if len(markers) > 0 {
				return nil, fmt.Errorf("%s:%d: doccheck marker not directly above a fenced block", name, markerLine)
			}
			continue
		}
		fence, lang := f[1], f[2]
		start := lineNo
		var body []string
		closed := false
		for sc.Scan() {
			lineNo++
			if strings.HasPrefix(sc.Text(), fence[:3]) && strings.TrimSpace(strings.TrimLeft(sc.Text(), fence[:1])) == "" {
				closed = true
				break
			}
			body = append(body, sc.Text())
		}
		if !closed {
			return nil, fmt.Errorf("%s:%d: unclosed fenced block", name, start)
		}
		b := Block{File: name, Line: start}
		if err := b.mark(markers); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, markerLine, err)
		}
		markers = nil
		shell := lang == "sh" || lang == "bash" || lang == "console"
		if lang == "console" {
			var cmds []string
			for _, l := range body {
				if c, ok := strings.CutPrefix(l, "$ "); ok {
					cmds = append(cmds, c)
				}
			}
			body = cmds
		}
		b.Script = strings.Join(body, "\n") + "\n"
		b.HasCurl = shell && strings.Contains(b.Script, "curl")
		switch {
		case b.HasCurl || (shell && b.Run):
			blocks = append(blocks, b)
		case b.Run || b.Skip != "" || b.Expect != nil || b.ServeFlags != nil || b.Setup != nil:
			return nil, fmt.Errorf("%s:%d: doccheck marker on a block that does not run (not sh/bash/console, or no curl)", name, start)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(markers) > 0 {
		return nil, fmt.Errorf("%s:%d: doccheck marker at the end of the file", name, markerLine)
	}
	return blocks, nil
}

// mark applies the markers' directives to b.
func (b *Block) mark(markers []string) error {
	for _, m := range markers {
		verb, rest, _ := strings.Cut(m, " ")
		rest = strings.TrimSpace(rest)
		switch verb {
		case "skip":
			reason := strings.TrimSuffix(strings.TrimPrefix(rest, "("), ")")
			if strings.TrimSpace(reason) == "" {
				return fmt.Errorf("doccheck: skip needs a reason: <!-- doccheck: skip (why) -->")
			}
			b.Skip = reason
		case "expect":
			if rest == "" {
				return fmt.Errorf("doccheck: expect needs HTTP statuses")
			}
			for _, f := range strings.Fields(rest) {
				n, err := strconv.Atoi(f)
				if err != nil || n < 100 || n > 599 {
					return fmt.Errorf("doccheck: expect %q: not an HTTP status", f)
				}
				b.Expect = append(b.Expect, n)
			}
		case "run":
			if rest != "" {
				return fmt.Errorf("doccheck: run takes nothing, got %q", rest)
			}
			b.Run = true
		case "serve":
			if rest == "" {
				return fmt.Errorf("doccheck: serve needs flags")
			}
			b.ServeFlags = strings.Fields(rest)
		case "setup":
			if rest == "" {
				return fmt.Errorf("doccheck: setup needs commands")
			}
			b.Setup = append(b.Setup, rest)
		default:
			return fmt.Errorf("doccheck: unknown marker %q (want skip, expect, run, serve or setup)", m)
		}
	}
	return nil
}
