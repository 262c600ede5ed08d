// Package archtest holds no code, only a test that keeps the package
// layering of DESIGN.md true: data flows one way, packages never import
// roles, roles never import each other, and the pure layers stay pure.
package archtest
