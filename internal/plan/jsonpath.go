package plan

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tidwall/gjson"
)

// jsonPathRule states the form of a JSON path in messages.
const jsonPathRule = "write it as $ followed by .name, [index] or ['name'] parts, such as $.data.items[0].id"

// GJSONPath converts a JSON path such as $.data.items[0].id into the path
// syntax of github.com/tidwall/gjson, data.items.0.id. A path is $ for
// the whole document, followed by any number of .name, [index] and
// ['name'] or ["name"] parts. Characters that gjson treats specially in
// names, such as '*' and '#', are escaped, so names match literally. It
// returns an error that states what is wrong for any other path.
func GJSONPath(path string) (string, error) {
	if !strings.HasPrefix(path, "$") {
		return "", fmt.Errorf("JSON path %q must start with $; %s", path, jsonPathRule)
	}
	var parts []string
	rest := path[1:]
	for rest != "" {
		var part string
		var err error
		switch rest[0] {
		case '.':
			part, rest, err = dotName(rest[1:])
		case '[':
			part, rest, err = bracketPart(rest[1:])
		default:
			err = fmt.Errorf("unexpected %q", rest[0])
		}
		if err != nil {
			at := len(path) - len(rest)
			return "", fmt.Errorf("JSON path %q: %v at byte %d; %s", path, err, at+1, jsonPathRule)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "@this", nil
	}
	return strings.Join(parts, "."), nil
}

// dotName reads the name after a '.', up to the next '.' or '['.
func dotName(s string) (part, rest string, err error) {
	end := strings.IndexAny(s, ".[]")
	if end < 0 {
		end = len(s)
	}
	if end < len(s) && s[end] == ']' {
		return "", s, fmt.Errorf("unexpected ']'")
	}
	if end == 0 {
		return "", s, fmt.Errorf("empty name after '.'")
	}
	return gjson.Escape(s[:end]), s[end:], nil
}

// bracketPart reads what follows a '[': an index and ']', or a quoted
// name and ']'.
func bracketPart(s string) (part, rest string, err error) {
	if s != "" && (s[0] == '\'' || s[0] == '"') {
		end := strings.IndexByte(s[1:], s[0])
		if end < 0 || !strings.HasPrefix(s[1+end+1:], "]") {
			return "", s, fmt.Errorf("quoted name without a closing %c]", s[0])
		}
		name := s[1 : 1+end]
		if name == "" {
			return "", s, fmt.Errorf("empty quoted name")
		}
		return gjson.Escape(name), s[1+end+2:], nil
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return "", s, fmt.Errorf("'[' without a closing ']'")
	}
	index := s[:end]
	if index == "" || strings.Trim(index, "0123456789") != "" {
		return "", s, fmt.Errorf("index [%s] is not a whole number or a quoted name", index)
	}
	return index, s[end+1:], nil
}

// checkRegex returns the error of compiling expr as a Go regular
// expression, or nil.
func checkRegex(expr string) error {
	_, err := regexp.Compile(expr)
	return err
}
