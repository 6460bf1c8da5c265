package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits that checkShape applies to a msgpack message before it is
// decoded.
const (
	// maxContainer is the longest array or map: enough for a histogram's
	// 4 + 2×8064 fields and for maxReportTasks tasks.
	maxContainer = 20000
	// maxDepth is the deepest nesting of arrays and maps.
	maxDepth = 16
)

// errShape is wrapped by the errors of checkShape.
var errShape = errors.New("malformed msgpack")

// checkShape walks the msgpack framing of data without decoding it, and
// returns an error when a declared length exceeds the bytes left, an array
// or map exceeds maxContainer, nesting exceeds maxDepth, or a byte is not
// a msgpack type. The decoder allocates by declared lengths, so without
// this check a few bytes claiming millions of tasks would make it allocate
// gigabytes.
func checkShape(data []byte) error {
	// pending counts the items still to read in each open container.
	pending := []int{1}
	pos := 0
	for len(pending) > 0 {
		top := len(pending) - 1
		if pending[top] == 0 {
			pending = pending[:top]
			continue
		}
		pending[top]--
		if pos >= len(data) {
			return fmt.Errorf("%w: message ends early at byte %d", errShape, pos)
		}
		items, skip, err := frame(data[pos:])
		if err != nil {
			return fmt.Errorf("%w at byte %d: %w", errShape, pos, err)
		}
		if skip > len(data)-pos {
			return fmt.Errorf("%w: a value at byte %d claims %d bytes, %d are left", errShape, pos, skip, len(data)-pos)
		}
		pos += skip
		if items < 0 {
			continue
		}
		if items > maxContainer || items > len(data)-pos {
			return fmt.Errorf("%w: a container at byte %d claims %d items", errShape, pos-skip, items)
		}
		if len(pending) > maxDepth {
			return fmt.Errorf("%w: nested deeper than %d", errShape, maxDepth)
		}
		pending = append(pending, items)
	}
	return nil
}

// frame reads the type byte at the start of b. It returns how many bytes
// the value takes when it is not a container, with items -1, or the size
// of the container's header and its number of items, counting a map's
// keys and values separately.
func frame(b []byte) (items, size int, err error) {
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return -1, 1, nil
	case c >= 0x80 && c <= 0x8f:
		return 2 * int(c&0x0f), 1, nil
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f), 1, nil
	case c >= 0xa0 && c <= 0xbf:
		return -1, 1 + int(c&0x1f), nil
	}
	switch c {
	case 0xcc, 0xd0:
		return -1, 2, nil
	case 0xcd, 0xd1:
		return -1, 3, nil
	case 0xca, 0xce, 0xd2:
		return -1, 5, nil
	case 0xcb, 0xcf, 0xd3:
		return -1, 9, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8 and 16
		return -1, 2 + 1<<(c-0xd4), nil
	case 0xc4, 0xd9: // bin 8, str 8
		n, err := length(b, 1)
		return -1, 2 + n, err
	case 0xc5, 0xda: // bin 16, str 16
		n, err := length(b, 2)
		return -1, 3 + n, err
	case 0xc6, 0xdb: // bin 32, str 32
		n, err := length(b, 4)
		return -1, 5 + n, err
	case 0xc7, 0xc8, 0xc9: // ext 8, 16 and 32, with a type byte
		width := 1 << (c - 0xc7)
		n, err := length(b, width)
		return -1, 2 + width + n, err
	case 0xdc:
		n, err := length(b, 2)
		return n, 3, err
	case 0xdd:
		n, err := length(b, 4)
		return n, 5, err
	case 0xde:
		n, err := length(b, 2)
		return 2 * n, 3, err
	case 0xdf:
		n, err := length(b, 4)
		return 2 * n, 5, err
	}
	return 0, 0, fmt.Errorf("byte 0x%02x is not a msgpack type", c)
}

// length reads the big-endian length of width bytes after the type byte.
func length(b []byte, width int) (int, error) {
	if len(b) < 1+width {
		return 0, errors.New("length cut short")
	}
	switch width {
	case 1:
		return int(b[1]), nil
	case 2:
		return int(binary.BigEndian.Uint16(b[1:])), nil
	}
	return int(binary.BigEndian.Uint32(b[1:])), nil
}
