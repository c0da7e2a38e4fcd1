//! Documents in demo-his: letters and reports stored as PDF/A, for the PDF/A data service.
//! The HIS keeps each document as a row with the file in a binary column, a local kind code
//! (`soort`), a status letter and the soft-delete flag.
use super::PatientContext;
use crate::tables::{yes_no, Rng, Tables};
use chrono::{Duration, NaiveDateTime, NaiveTime};
use dva_source_api::Value;

/// The generator stream of this part of the record (see `Rng::for_patient`).
const SALT: u64 = 0xD0C5;

/// Local kind code, title, the sentence in the letter. `mappings/demo-his/pdfa/service.yaml`
/// translates the codes to LOINC.
const KINDS: &[(&str, &str, &str)] = &[
    (
        "ONTNCH",
        "Ontslagbrief neurochirurgie",
        "Opname voor een cervicale hernia; na de operatie klachtenvrij ontslagen.",
    ),
    (
        "CONINF",
        "Consultverslag infectieziekten",
        "Consult wegens langdurige koorts; geen aanwijzing voor een infectie.",
    ),
    ("CONNEU", "Consultverslag neurologie", "Hoofdpijn zonder neurologische uitval; geen aanvullend onderzoek nodig."),
    ("ONTALL", "Ontslagbrief allergologie", "Provocatietest negatief; het middel kan weer worden gebruikt."),
    ("VERW", "Verwijsbrief", "Graag uw beoordeling en advies over het verdere beleid."),
];

/// Staff who write or file documents (`medewerker.med_id`).
const AUTHORS: &[i64] = &[11, 12, 13, 14, 15];

/// Adds 0 to 4 documents of one generated patient: some within the last year, some older than
/// two years, a few no longer current (superseded or entered in error), a few soft-deleted.
/// Besides, every fourth patient has a letter filed under the wrong patient and deleted, and
/// every fourth (another) a letter replaced by a corrected version: even a small demo
/// database has both.
pub fn patient(t: &mut Tables, p: &PatientContext<'_>) {
    let mut rng = Rng::for_patient(p.seed, SALT, p.index);
    for _ in 0..rng.range(0, 4) {
        let kind = *rng.pick(KINDS);
        let days_ago = match rng.range(0, 2) {
            0 => rng.range(1, 365),
            1 => rng.range(366, 730),
            _ => rng.range(731, 6 * 365),
        };
        let status = match rng.range(0, 99) {
            0..=84 => "A",
            85..=94 => "V",
            _ => "F",
        };
        let deleted = rng.chance(8);
        add(t, p, &mut rng, kind, days_ago, status, deleted);
    }
    match p.index % 4 {
        1 => {
            let kind = *rng.pick(KINDS);
            let days_ago = rng.range(1, 1000);
            add(t, p, &mut rng, kind, days_ago, "A", true);
        }
        2 => {
            let kind = *rng.pick(KINDS);
            let days_ago = rng.range(10, 1000);
            add(t, p, &mut rng, kind, days_ago, "V", false);
            let corrected = days_ago - rng.range(1, 9);
            add(t, p, &mut rng, kind, corrected, "A", false);
        }
        _ => {}
    }
}

/// One document with its PDF, created `days_ago` days before the anchor, in office hours.
fn add(
    t: &mut Tables,
    p: &PatientContext<'_>,
    rng: &mut Rng,
    (code, title, sentence): (&str, &str, &str),
    days_ago: i64,
    status: &str,
    deleted: bool,
) {
    let id = t.next_id("document");
    let created = p.anchor - Duration::days(days_ago);
    let when = created.and_time(NaiveTime::MIN) + Duration::minutes(rng.range(8 * 60, 17 * 60));
    let author = if rng.chance(60) { p.gp } else { *rng.pick(AUTHORS) };
    let lines = [
        format!("Patient: {}", p.name),
        format!("Datum: {}", when.format("%d-%m-%Y %H:%M")),
        sentence.to_owned(),
        "Synthetisch document uit demo-his; het beschrijft geen echte persoon.".to_owned(),
    ];
    let pdf = pdf(title, &lines, when, rng.next());
    t.add(
        "document",
        vec![
            Value::Int(id),
            Value::Int(p.pat_id),
            code.into(),
            title.into(),
            Value::Timestamp(when),
            Value::Int(author),
            status.into(),
            format!("{}-{id}.pdf", code.to_lowercase()).into(),
            "application/pdf".into(),
            Value::Int(pdf.len() as i64),
            Value::Bytes(pdf),
            title.into(),
            "nl".into(),
            // The infectious-disease consults are marked very restricted (for the patient only).
            (if code == "CONINF" { "V" } else { "N" }).into(),
            Value::Null,
            Value::Null,
            yes_no(deleted),
        ],
    );
}

/// A one-page PDF 1.4 with `title` and `lines` in Helvetica, the Info dictionary and an XMP
/// packet that identify it as PDF/A-1b, and an exact cross-reference table. Not valid PDF/A:
/// the font is not embedded and there is no output intent (ICC profile).
pub(crate) fn pdf(title: &str, lines: &[String], created: NaiveDateTime, id: u64) -> Vec<u8> {
    let mut text = format!("BT\n/F1 16 Tf\n72 770 Td\n({}) Tj\n/F1 11 Tf\n16 TL\n0 -32 Td\n", pdf_string(title));
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            text.push_str("T*\n");
        }
        text.push_str(&format!("({}) Tj\n", pdf_string(line)));
    }
    text.push_str("ET\n");
    let xmp = xmp(title, created);
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R /Metadata 6 0 R /Lang (nl-NL) >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
            .to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
        stream("", text.as_bytes()),
        stream("/Type /Metadata /Subtype /XML ", xmp.as_bytes()),
        format!(
            "<< /Title ({}) /Producer (demo-his) /CreationDate (D:{}) >>",
            pdf_string(title),
            created.format("%Y%m%d%H%M%S")
        )
        .into_bytes(),
    ];
    // A binary comment after the header, as PDF/A asks, so tools treat the file as binary.
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    // Each entry is exactly 20 bytes, as the format requires.
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        table.push_str(&format!("{offset:010} 00000 n \n"));
    }
    let file_id = format!("{id:016x}{:016x}", id.rotate_left(29) ^ 0x5DEE_CE66_D1CE_4E5B);
    table.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R /Info 7 0 R /ID [<{file_id}> <{file_id}>] >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.extend_from_slice(table.as_bytes());
    out
}

fn stream(dictionary: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dictionary}/Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

/// Text as a PDF literal string in WinAnsiEncoding: Latin-1 letters as octal escapes,
/// anything else as `?`.
fn pdf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '\u{a0}'..='\u{ff}' => out.push_str(&format!("\\{:03o}", u32::from(c))),
            _ => out.push('?'),
        }
    }
    out
}

/// The XMP packet: PDF/A-1b identification, title and creation date (as in the Info dictionary).
fn xmp(title: &str, created: NaiveDateTime) -> String {
    let title = title.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
         <x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n\
         <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
         <rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\">\
         <pdfaid:part>1</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance></rdf:Description>\n\
         <rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\
         <dc:format>application/pdf</dc:format>\
         <dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">{title}</rdf:li></rdf:Alt></dc:title></rdf:Description>\n\
         <rdf:Description rdf:about=\"\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\">\
         <xmp:CreateDate>{}</xmp:CreateDate></rdf:Description>\n\
         <rdf:Description rdf:about=\"\" xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\">\
         <pdf:Producer>demo-his</pdf:Producer></rdf:Description>\n\
         </rdf:RDF>\n\
         </x:xmpmeta>\n\
         <?xpacket end=\"w\"?>",
        created.format("%Y-%m-%dT%H:%M:%S")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let when = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).and_then(|d| d.and_hms_opt(9, 30, 0)).expect("time");
        pdf("Verwijsbrief (kopie)", &["Patiënt: A. de Vries".to_owned()], when, 7)
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    /// Every xref entry points at its `n 0 obj`, and startxref at the table. (Byte offsets:
    /// the binary comment after the header is not UTF-8.)
    #[test]
    fn cross_reference_table_is_exact() {
        let bytes = sample();
        assert!(bytes.starts_with(b"%PDF-1.4\n%\xE2"));
        assert!(bytes.ends_with(b"%%EOF\n"));
        let tail = &bytes[find(&bytes, b"startxref\n").expect("startxref") + 10..];
        let start: usize = std::str::from_utf8(&tail[..tail.iter().position(|b| *b == b'\n').expect("line")])
            .expect("digits")
            .parse()
            .expect("offset");
        let table = std::str::from_utf8(&bytes[start..]).expect("the table is ASCII");
        assert!(table.starts_with("xref\n0 8\n0000000000 65535 f \n"));
        for (n, entry) in table.split_inclusive('\n').skip(3).take(7).enumerate() {
            assert_eq!(entry.len(), 20, "{entry:?}");
            let offset: usize = entry[..10].parse().expect("offset");
            assert!(bytes[offset..].starts_with(format!("{} 0 obj\n", n + 1).as_bytes()), "object {}", n + 1);
        }
    }

    #[test]
    fn stream_lengths_match_and_text_is_escaped() {
        let bytes = sample();
        assert!(find(&bytes, b"(Verwijsbrief \\(kopie\\)) Tj").is_some());
        assert!(find(&bytes, b"(Pati\\353nt: A. de Vries) Tj").is_some());
        let mut streams = 0;
        let mut rest = &bytes[..];
        while let Some(at) = find(rest, b"/Length ") {
            rest = &rest[at + 8..];
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let length: usize = std::str::from_utf8(&rest[..digits]).expect("digits").parse().expect("length");
            let data = find(rest, b"stream\n").expect("stream") + 7;
            assert_eq!(&rest[data + length..data + length + 10], b"\nendstream");
            streams += 1;
        }
        assert_eq!(streams, 2, "page content and XMP");
    }
}
