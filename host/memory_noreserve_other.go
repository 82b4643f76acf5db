//go:build darwin || freebsd || netbsd || openbsd

package host

const mapNoReserve = 0
