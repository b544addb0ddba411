package subsidy

import (
	"os"
	"regexp"
	"testing"
)

// The vectors of Protos/USCC.md, read from the page.
func TestUSCCVectorsFromTheSpec(t *testing.T) {
	doc, err := os.ReadFile("../../USCC.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]*)` \\|")
	section := regexp.MustCompile("(?m)^### (Valid|Invalid) codes$")
	marks := section.FindAllSubmatchIndex(doc, -1)
	if len(marks) != 2 {
		t.Fatalf("expected the two vector tables, found %d", len(marks))
	}
	valid := row.FindAllSubmatch(doc[marks[0][1]:marks[1][0]], -1)
	invalid := row.FindAllSubmatch(doc[marks[1][1]:], -1)
	if len(valid) < 5 || len(invalid) < 5 {
		t.Fatalf("too few vectors: %d valid, %d invalid", len(valid), len(invalid))
	}
	for _, m := range valid {
		code := string(m[1])
		if !ValidUSCC(code) {
			t.Errorf("%s should be valid", code)
		}
		if made, err := MakeUSCC(code[:16]); err != nil || made != code {
			t.Errorf("MakeUSCC(%s) = %s, %v", code[:16], made, err)
		}
	}
	for _, m := range invalid {
		if ValidUSCC(string(m[1])) {
			t.Errorf("%s should be invalid", m[1])
		}
	}
}
