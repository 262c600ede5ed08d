// Package dashboards defines Lightmetrics' typed TOML dashboards: the
// built-in definitions compiled into the binary, the custom ones a collector
// reads from [dashboards] definition_files and definition_dirs, and the
// checks that make a broken definition fail check-config and startup with
// "FILE:LINE: KEY: MSG" instead of failing later in the browser.
//
// # Definition files
//
// One file holds one dashboard. Top-level keys: id (required, the URL slug,
// [a-z0-9-]{1,64}), title (required), description, tags, override, refresh
// (default "30s", or "off"), time_range (default "1h"), then [[variables]]
// and [[panels]] arrays of tables. Unknown keys anywhere are errors.
//
// A panel has id (a slug unique in the dashboard), title, type (timeseries,
// stat, table or logs), unit, decimals, thresholds and layout = { x, y, w, h }
// on a GridColumns-wide grid. Metric panels have one or more queries
// (queries = [{ expr = "...", legend = "{{agent}}" }] or [[panels.queries]]
// tables); a logs panel has a [panels.logs] table (agent, source, q, re,
// limit) instead. Timeseries panels run range queries over the time range;
// stat and table panels run instant queries at its end.
//
// # Variables
//
// Expressions, logs queries and panel titles may reference a declared
// variable as $name or ${name}; in logs.re only ${name} is recognised, since "$" is an anchor
// there. A "$" not followed by an identifier is plain text, so label_replace's
// "$1" keeps working. The console also defines $__interval (the query step),
// $__rate_interval (a window safe for rate() at that step) and $__range (the
// whole time range). Values are substituted as plain text.
//
// Variable kinds: "agent" offers the fleet's agent ids; "label_values" offers
// the values of a label, from label_values(label) or
// label_values(selector, label), whose selector may use variables declared
// earlier; "custom" offers a fixed options list; "text" is free text, for
// filters with no finite set of values such as a log source.
//
// # Ids and overrides
//
// Custom ids must be unique across all files. A custom dashboard with a
// built-in's id replaces it only with override = true, so an upgrade that
// adds a built-in never silently hides a custom dashboard (or vice versa).
package dashboards
