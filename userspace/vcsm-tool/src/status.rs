//! `vcsm-tool status`: `/sys/kernel/debug/vcsm-cma/state` as a table or JSON.
//!
//! The driver (drivers/vc-sm-cma/debugfs.rs) prints one line per buffer and then summary lines:
//!
//! ```text
//! buffer id=1 origin=import name=sm-host-resource size=1048576 exporter=vcsm-uncached dma=0x3e000000 vpu_addr=0xfe000000 vc_handle=0x1 vpu=mapped pid=123 wrapped=yes
//! buffers=1 bytes=1048576 mapped=1 unmapping=0 released=0 importing=0 wrapped=1
//! phase=Ready protocol=2 timeout_ms=3000
//! firmware present=yes revision=0x548e1 board=0xa02082 model=Pi 3 B board_rev=1.2 ram_mb=1024 ...
//! transactions pending=0 abandoned=0 timeouts=0 interrupted=0 late_replies=0 ...
//! ```
//!
//! The parser ([`dmabuf::state`], shared with the guest tests) is deliberately tolerant, so that
//! the tool keeps working while the format grows; unknown keys are kept and shown, missing keys
//! show as `-`, and lines that fit no pattern are printed after the table.

use crate::json::{object_of, Value};
use crate::output::{human_size, Align, Table};

pub use dmabuf::state::{get, parse, Pairs, State};

/// Buffer columns in the order the driver prints them, with their headers.
const COLUMNS: [(&str, &str, Align); 11] = [
    ("id", "ID", Align::Right),
    ("origin", "ORIGIN", Align::Left),
    ("name", "NAME", Align::Left),
    ("size", "SIZE", Align::Right),
    ("exporter", "EXPORTER", Align::Left),
    ("dma", "DMA ADDR", Align::Left),
    ("vpu_addr", "VPU ADDR", Align::Left),
    ("vc_handle", "HANDLE", Align::Left),
    ("vpu", "VPU STATE", Align::Left),
    ("pid", "PID", Align::Right),
    ("wrapped", "WRAPPED", Align::Left),
];

/// The keys of the table's columns: the known ones, then any others in first-seen order.
fn column_keys(state: &State) -> Vec<String> {
    let mut keys: Vec<String> = COLUMNS.iter().map(|(k, _, _)| (*k).to_owned()).collect();
    for buf in &state.buffers {
        for (k, _) in buf {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

/// The buffer table.
pub fn table(state: &State) -> Table {
    let keys = column_keys(state);
    let headers: Vec<(String, Align)> = keys
        .iter()
        .map(|k| match COLUMNS.iter().find(|(key, _, _)| key == k) {
            Some((_, header, align)) => ((*header).to_owned(), *align),
            None => (k.to_ascii_uppercase(), Align::Left),
        })
        .collect();
    let columns: Vec<(&str, Align)> = headers.iter().map(|(h, a)| (h.as_str(), *a)).collect();
    let mut t = Table::new(&columns);
    for buf in &state.buffers {
        let row = keys
            .iter()
            .map(|k| match (k.as_str(), get(buf, k)) {
                (_, None) => "-".to_owned(),
                ("size", Some(v)) => v.parse::<u64>().map_or_else(|_| v.to_owned(), human_size),
                (_, Some(v)) => v.to_owned(),
            })
            .collect();
        t.row(row);
    }
    t
}

/// The whole text output: the table (or `no buffers`), the summary lines, unparsed lines.
pub fn render(state: &State) -> String {
    let mut out = if state.buffers.is_empty() { "no buffers\n".to_owned() } else { table(state).render() };
    for (word, pairs) in &state.groups {
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if word.is_empty() {
            out.push_str(&text.join(" "));
        } else {
            out.push_str(&format!("{word}: {}", text.join(" ")));
        }
        out.push('\n');
    }
    for line in &state.unparsed {
        out.push_str("? ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A value as JSON: decimal integers become numbers, everything else stays a string.
fn typed(v: &str) -> Value {
    let decimal = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    if decimal {
        if let Ok(n) = v.parse::<u64>() {
            return Value::from(n);
        }
    }
    if let Some(digits) = v.strip_prefix('-') {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = v.parse::<i64>() {
                return Value::from(n);
            }
        }
    }
    Value::String(v.to_owned())
}

fn pairs_json(pairs: &Pairs) -> Vec<(String, Value)> {
    pairs.iter().map(|(k, v)| (k.clone(), typed(v))).collect()
}

/// Leading words of lines the driver prints once per item (`pin tgid=.. pin_bytes=..`, one
/// per process): in JSON, an array of objects instead of one merged object.
const LISTS: [&str; 1] = ["pin"];

/// `{"buffers": [...], "summary": {...}, "<word>": {...}, "pin": [...], "unparsed": [...]}`:
/// lines of pairs only are merged into `summary`, lines with the same leading word into one
/// object, except the per-item lines of [`LISTS`], which become arrays.
pub fn to_json(state: &State) -> Value {
    let buffers = state.buffers.iter().map(|b| object_of(pairs_json(b))).collect();
    let mut groups: Vec<(String, Vec<(String, Value)>)> = vec![("summary".to_owned(), Vec::new())];
    let mut lists: Vec<(String, Vec<Value>)> = LISTS.iter().map(|w| ((*w).to_owned(), Vec::new())).collect();
    for (word, pairs) in &state.groups {
        if let Some((_, items)) = lists.iter_mut().find(|(w, _)| w == word) {
            items.push(object_of(pairs_json(pairs)));
            continue;
        }
        let name = if word.is_empty() { "summary" } else { word.as_str() };
        match groups.iter_mut().find(|(n, _)| n == name) {
            Some((_, fields)) => fields.extend(pairs_json(pairs)),
            None => groups.push((name.to_owned(), pairs_json(pairs))),
        }
    }
    let mut obj = vec![("buffers".to_owned(), Value::Array(buffers))];
    for (name, fields) in groups {
        if name == "buffers" || name == "unparsed" {
            // Cannot happen with the driver's format; keep the data under another name.
            obj.push((format!("{name}_line"), object_of(fields)));
        } else {
            obj.push((name, object_of(fields)));
        }
    }
    for (word, items) in lists {
        if !items.is_empty() {
            obj.push((word, Value::Array(items)));
        }
    }
    obj.push(("unparsed".to_owned(), state.unparsed.clone().into()));
    object_of(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::JsonExt;

    /// What drivers/vc-sm-cma/debugfs.rs prints, with two buffers.
    const SAMPLE: &str = "\
buffer id=1 origin=import name=sm-host-resource size=1048576 exporter=vcsm-uncached dma=0x3e000000 vpu_addr=0xfe000000 vc_handle=0x1 vpu=mapped pid=123 wrapped=yes
buffer id=2 origin=alloc name=my frame size=65536 exporter=vc-sm-cma dma=0x3e100000 vpu_addr=0xfe100000 vc_handle=0x2 vpu=unmapping pid=124 wrapped=no
buffers=2 bytes=1114112 mapped=1 unmapping=1 released=0 importing=0 wrapped=1
phase=Ready protocol=2 timeout_ms=3000
transactions pending=0 abandoned=0 timeouts=0 interrupted=0 late_replies=0 unexpected_replies=0 bad_messages=0 released_unknown=0 mem_requests=0 mem_request_failures=0 free_failures=0
";

    #[test]
    fn parses_the_driver_format() {
        let s = parse(SAMPLE);
        assert_eq!(s.buffers.len(), 2);
        assert_eq!(get(&s.buffers[0], "vc_handle"), Some("0x1"));
        assert_eq!(get(&s.buffers[0], "vpu"), Some("mapped"));
        // A name with a space.
        assert_eq!(get(&s.buffers[1], "name"), Some("my frame"));
        assert_eq!(get(&s.buffers[1], "size"), Some("65536"));
        assert_eq!(s.groups.len(), 3);
        assert_eq!(s.groups[0].0, "");
        assert_eq!(get(&s.groups[0].1, "buffers"), Some("2"));
        assert_eq!(get(&s.groups[1].1, "phase"), Some("Ready"));
        assert_eq!(s.groups[2].0, "transactions");
        assert_eq!(get(&s.groups[2].1, "free_failures"), Some("0"));
        assert!(s.unparsed.is_empty());
    }

    #[test]
    fn table_output() {
        let text = render(&parse(SAMPLE));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID  ORIGIN  NAME"), "{}", lines[0]);
        assert!(
            lines[0].contains("HANDLE") && lines[0].contains("VPU STATE") && lines[0].ends_with("WRAPPED")
        );
        assert!(
            lines[1].contains("sm-host-resource")
                && lines[1].contains("1 MiB")
                && lines[1].contains("mapped")
        );
        assert!(
            lines[2].contains("my frame") && lines[2].contains("64 KiB") && lines[2].contains("unmapping")
        );
        assert_eq!(lines[3], "buffers=2 bytes=1114112 mapped=1 unmapping=1 released=0 importing=0 wrapped=1");
        assert_eq!(lines[4], "phase=Ready protocol=2 timeout_ms=3000");
        assert!(lines[5].starts_with("transactions: pending=0 abandoned=0"));
        assert_eq!(lines.len(), 6);
        // Columns line up: every row has the handle at the header's offset.
        let col = lines[0].find("HANDLE").unwrap();
        assert_eq!(&lines[1][col..col + 3], "0x1");
        assert_eq!(&lines[2][col..col + 3], "0x2");
    }

    #[test]
    fn json_output() {
        let j = to_json(&parse(SAMPLE)).to_json();
        assert!(
            j.starts_with(
                r#"{"buffers":[{"id":1,"origin":"import","name":"sm-host-resource","size":1048576,"#
            ),
            "{j}"
        );
        assert!(j.contains(r#""vc_handle":"0x1","vpu":"mapped","pid":123,"wrapped":"yes"}"#), "{j}");
        assert!(j.contains(r#""summary":{"buffers":2,"bytes":1114112,"mapped":1,"unmapping":1,"released":0,"importing":0,"wrapped":1,"phase":"Ready","protocol":2,"timeout_ms":3000}"#), "{j}");
        assert!(j.contains(r#""transactions":{"pending":0,"#), "{j}");
        assert!(j.ends_with(r#""unparsed":[]}"#), "{j}");
    }

    /// The pin accounting lines: a summary line and one line per process.
    #[test]
    fn pins_output() {
        let text = format!(
            "{SAMPLE}pins pinned=12582912 cap_process=134217728 cap_total=268435456 refused=3 cma_fallbacks=1\n\
             pin tgid=123 pin_bytes=4194304\npin tgid=124 pin_bytes=8388608\n\
             memory cma_base=0x7c000000 cma_size=67108864 vpu_mappings=1 vpu_mapping_users=2 vpu_mappings_made=5 vpu_mappings_shared=3\n"
        );
        let s = parse(&text);
        let out = render(&s);
        assert!(
            out.contains("pins: pinned=12582912 cap_process=134217728 cap_total=268435456 refused=3"),
            "{out}"
        );
        assert!(out.contains("pin: tgid=124 pin_bytes=8388608\n"), "{out}");
        let j = to_json(&s).to_json();
        assert!(j.contains(r#""pins":{"pinned":12582912,"cap_process":134217728,"cap_total":268435456,"refused":3,"cma_fallbacks":1}"#), "{j}");
        assert!(
            j.contains(r#""pin":[{"tgid":123,"pin_bytes":4194304},{"tgid":124,"pin_bytes":8388608}]"#),
            "{j}"
        );
        assert!(j.contains(r#""memory":{"cma_base":"0x7c000000","cma_size":67108864,"#), "{j}");
    }

    /// The Raspberry Pi firmware line: values with spaces (model, manufacturer) and the line
    /// of a machine without the firmware.
    #[test]
    fn firmware_output() {
        let pi = "firmware present=yes revision=0x548e1 board=0xa02082 model=Pi 3 B board_rev=1.2 ram_mb=1024 processor=BCM2837 manufacturer=Sony UK arm_base=0x0 arm_size=1006632960 vc_base=0x3c000000 vc_size=67108864\n";
        let s = parse(&format!("{SAMPLE}{pi}"));
        let (word, fw) = s.groups.iter().find(|(w, _)| w == "firmware").expect("a firmware group");
        assert_eq!(word, "firmware");
        assert_eq!(get(fw, "present"), Some("yes"));
        assert_eq!(get(fw, "model"), Some("Pi 3 B"));
        assert_eq!(get(fw, "manufacturer"), Some("Sony UK"));
        assert_eq!(get(fw, "ram_mb"), Some("1024"));
        assert_eq!(get(fw, "vc_size"), Some("67108864"));
        assert!(s.unparsed.is_empty());
        let out = render(&s);
        assert!(
            out.contains("firmware: present=yes revision=0x548e1 board=0xa02082 model=Pi 3 B board_rev=1.2 ram_mb=1024 processor=BCM2837 manufacturer=Sony UK arm_base=0x0 arm_size=1006632960 vc_base=0x3c000000 vc_size=67108864\n"),
            "{out}"
        );
        let j = to_json(&s).to_json();
        assert!(
            j.contains(r#""firmware":{"present":"yes","revision":"0x548e1","board":"0xa02082","model":"Pi 3 B","board_rev":"1.2","ram_mb":1024,"processor":"BCM2837","manufacturer":"Sony UK","arm_base":"0x0","arm_size":1006632960,"vc_base":"0x3c000000","vc_size":67108864}"#),
            "{j}"
        );

        let s = parse(&format!("{SAMPLE}firmware present=no\n"));
        assert!(render(&s).contains("\nfirmware: present=no\n"));
        assert!(to_json(&s).to_json().contains(r#""firmware":{"present":"no"}"#));
        // A property that failed, and an unusable firmware.
        let s = parse("firmware present=yes revision=error:-110 board=error:reply arm_base=0x0 arm_size=1 vc_base=error:-22\n");
        let fw = &s.groups[0].1;
        assert_eq!(
            (get(fw, "revision"), get(fw, "board"), get(fw, "vc_base")),
            (Some("error:-110"), Some("error:reply"), Some("error:-22"))
        );
        let s = parse("firmware present=unusable error=-517\n");
        assert_eq!(render(&s), "no buffers\nfirmware: present=unusable error=-517\n");
    }

    #[test]
    fn tolerant_of_other_formats() {
        // Empty file.
        let s = parse("");
        assert_eq!(s, State::default());
        assert_eq!(render(&s), "no buffers\n");
        assert_eq!(to_json(&s).to_json(), r#"{"buffers":[],"summary":{},"unparsed":[]}"#);

        // Unknown keys, missing keys, CRLF, extra spaces, garbage and the downstream format.
        let text = "buffer id=7 size=4096 color=blue\r\n\
                    \r\n  buffer   id=8   vpu=released  \n\
                    buffer\n\
                    NAME: sm-host-resource\n\
                    Number of resources 2\n\
                    negative=-5 big=99999999999999999999999 hex=0x10 plus=+1 empty=\n";
        let s = parse(text);
        assert_eq!(s.buffers.len(), 2);
        assert_eq!(get(&s.buffers[0], "color"), Some("blue"));
        assert_eq!(s.unparsed, ["buffer", "NAME: sm-host-resource", "Number of resources 2"]);
        let out = render(&s);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].ends_with("COLOR"), "{}", lines[0]);
        assert!(lines[1].contains("4 KiB") && lines[1].ends_with("blue"), "{}", lines[1]);
        // Missing cells show as "-".
        assert!(lines[2].contains("released") && lines[2].matches(" -").count() >= 8, "{}", lines[2]);
        assert!(out.contains("? NAME: sm-host-resource\n"));
        let j = to_json(&s).to_json();
        assert!(
            j.contains(
                r#""negative":-5,"big":"99999999999999999999999","hex":"0x10","plus":"+1","empty":"""#
            ),
            "{j}"
        );
        assert!(
            j.contains(r#""unparsed":["buffer","NAME: sm-host-resource","Number of resources 2"]"#),
            "{j}"
        );
    }
}
