package objstore

import (
	"context"
	"strings"
)

// Prefixed roots every key of b under prefix, so several installations (or
// test runs) can share one bucket. Keys passed in, and the keys and
// directories that come back, are relative to the prefix. The prefix is
// normalised to no leading "/" and exactly one trailing "/"; an empty
// prefix (or "/") returns b itself.
func Prefixed(b Bucket, prefix string) Bucket {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return b
	}
	return &prefixed{b: b, p: prefix + "/"}
}

type prefixed struct {
	b Bucket
	p string // normalised: ends in exactly one "/"
}

func (p *prefixed) String() string { return p.b.String() + "/" + p.p }

func (p *prefixed) strip(info ObjectInfo) ObjectInfo {
	info.Key = strings.TrimPrefix(info.Key, p.p)
	return info
}

func (p *prefixed) Put(ctx context.Context, key string, data []byte) (ObjectInfo, error) {
	info, err := p.b.Put(ctx, p.p+key, data)
	return p.strip(info), err
}

func (p *prefixed) Create(ctx context.Context, key string, data []byte) (ObjectInfo, error) {
	info, err := p.b.Create(ctx, p.p+key, data)
	return p.strip(info), err
}

func (p *prefixed) Get(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	return p.b.Get(ctx, p.p+key, maxBytes)
}

func (p *prefixed) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	info, err := p.b.Stat(ctx, p.p+key)
	return p.strip(info), err
}

func (p *prefixed) List(ctx context.Context, prefix, startAfter string, fn func(ObjectInfo) error) error {
	// "" means "from the start"; prefixing it would skip a key equal to the
	// bare prefix.
	after := ""
	if startAfter != "" {
		after = p.p + startAfter
	}
	return p.b.List(ctx, p.p+prefix, after, func(info ObjectInfo) error { return fn(p.strip(info)) })
}

func (p *prefixed) Dirs(ctx context.Context, prefix string) ([]string, error) {
	dirs, err := p.b.Dirs(ctx, p.p+prefix)
	if err != nil {
		return nil, err
	}
	for i := range dirs {
		dirs[i] = strings.TrimPrefix(dirs[i], p.p)
	}
	return dirs, nil
}

func (p *prefixed) Delete(ctx context.Context, key string) error { return p.b.Delete(ctx, p.p+key) }
