package plan

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Modes of Data.
const (
	// DataCycle gives each task execution the next row of its worker,
	// starting again from the first row after the last.
	DataCycle = "cycle"
	// DataOnce gives each row to exactly one task execution across the
	// fleet, and the run ends when every row is used.
	DataOnce = "once"
)

// Limits of the data file.
const (
	// MaxDataSize is the maximum size in bytes of the data file.
	MaxDataSize = 1 << 20
	// MaxDataColumns is the maximum number of columns of the data file.
	MaxDataColumns = 100
	// maxRowProblems is how many ragged rows are listed one by one.
	maxRowProblems = 5
)

var dataKeys = []string{"file", "mode"}

// Data is a table of values read from a CSV file, whose columns are
// variables of the plan. Each task execution takes one row.
type Data struct {
	// File is the path of the CSV file as the plan wrote it.
	File string `json:"file" msgpack:"file"`
	// Mode is DataCycle or DataOnce. It defaults to DataCycle.
	Mode string `json:"mode" msgpack:"mode"`
	// Columns are the names in the file's first row.
	Columns []string `json:"columns" msgpack:"columns"`
	// Rows are the other rows, at least one, each with one value per
	// column.
	Rows [][]string `json:"rows" msgpack:"rows"`
}

// data reads the optional data mapping. It returns nil when the plan has
// none or it is invalid, and the node that problems with columns are
// reported at.
func (d *decoder) data(f map[string]entry) (*Data, *yaml.Node) {
	e, ok := f["data"]
	if !ok || e.value.Kind == yaml.AliasNode {
		return nil, nil
	}
	if e.value.Kind != yaml.MappingNode {
		d.addf(e.value, "data", "%s: data must be a mapping with the keys file and mode, such as {file: users.csv, mode: cycle}", invalid(e.value))
		return nil, nil
	}

	df := d.fields(e.value, "data", dataKeys)
	out := &Data{Mode: DataCycle}
	ok = true
	if m, found := df["mode"]; found {
		out.Mode, ok = d.dataMode(m.value)
	}
	fe, found := df["file"]
	if !found {
		d.addf(e.value, "data.file", "missing key file; name a CSV file whose first row names the columns, such as users.csv")
		return nil, nil
	}
	content, fileOK := d.file(fe.value, "data.file", MaxDataSize)
	if !fileOK {
		return nil, nil
	}
	out.File = fe.value.Value
	if !d.csvTable(fe.value, content, out) || !ok {
		return nil, nil
	}
	return out, fe.value
}

// dataMode reads data.mode.
func (d *decoder) dataMode(v *yaml.Node) (string, bool) {
	const rule = "mode must be cycle or once"
	s, ok := d.text(v, "data.mode", rule)
	if !ok {
		return "", false
	}
	if s != DataCycle && s != DataOnce {
		d.addf(v, "data.mode", "%s: %s", invalid(v), rule)
		return "", false
	}
	return s, true
}

// csvTable parses content, the CSV file named by v, into the columns and
// rows of out, and reports whether it is a valid table.
func (d *decoder) csvTable(v *yaml.Node, content string, out *Data) bool {
	name := v.Value
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix([]byte(content), []byte("\ufeff"))))
	r.FieldsPerRecord = -1

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		d.addf(v, "data.file", "file %s is empty; its first row must name the columns, such as username,password", name)
		return false
	}
	if err != nil {
		d.addf(v, "data.file", "file %s is not valid CSV: %v", name, err)
		return false
	}
	if !d.csvHeader(v, name, header) {
		return false
	}
	out.Columns = header

	problems, read := 0, 0
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.addf(v, "data.file", "file %s is not valid CSV: %v", name, err)
			return false
		}
		read++
		if len(row) != len(header) {
			problems++
			line, _ := r.FieldPos(0)
			if problems <= maxRowProblems {
				d.addf(v, "data.file", "file %s, line %d (row %d): row has %d fields, but the header names %d columns; give every row one value per column",
					name, line, read, len(row), len(header))
			}
			continue
		}
		out.Rows = append(out.Rows, row)
	}
	if problems > maxRowProblems {
		d.addf(v, "data.file", "file %s has %d more rows with the wrong number of fields", name, problems-maxRowProblems)
	}
	if problems > 0 {
		return false
	}
	if len(out.Rows) == 0 {
		d.addf(v, "data.file", "file %s has a header but no rows; add at least one row below the header", name)
		return false
	}
	return true
}

// csvHeader checks the first row of the CSV file name: every column is a
// variable name that is not built in, and no name appears twice.
func (d *decoder) csvHeader(v *yaml.Node, name string, header []string) bool {
	if len(header) > MaxDataColumns {
		d.addf(v, "data.file", "file %s has %d columns, over the limit of %d; remove columns", name, len(header), MaxDataColumns)
		return false
	}
	ok := true
	for i, c := range header {
		switch {
		case !IsVariableName(c):
			d.addf(v, "data.file", "file %s, line 1: column %d is named %q, which is not a variable name; the first row must name the columns with letters, digits and '_', starting with a letter or '_', such as username",
				name, i+1, c)
			ok = false
		case slices.Contains(BuiltinVariables, c):
			d.addf(v, "data.file", "file %s, line 1: column %q has the name of a built-in variable; rename the column", name, c)
			ok = false
		case slices.Contains(header[:i], c):
			d.addf(v, "data.file", "file %s, line 1: column %q appears twice; give each column its own name", name, c)
			ok = false
		}
	}
	return ok
}

// IsOnce reports whether each row is used by one task execution only.
func (x *Data) IsOnce() bool { return x != nil && x.Mode == DataOnce }
