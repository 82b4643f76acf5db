//go:build !unix

package metal

import "errors"

func mapReadOnly(string) ([]byte, error) {
	return nil, errors.New("file mapping is not supported here")
}

func unmap([]byte) error { return nil }
