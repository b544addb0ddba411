import SubsidyTestRandom
import Testing

@testable import SubsidyCore

/// Property-style tests of the canonical form: every respelling a generator can produce of an
/// identifier — invisible characters, dashes, widths, white space, case, leading zeros, trailing
/// punctuation — canonicalises to the same key, and genuinely different identifiers do not.
@Suite("CanonicalText")
struct CanonicalTextTests {
    /// Every Default_Ignorable or format character a clerk's copy-paste can carry.
    static let invisibles: [Unicode.Scalar] = [
        "\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{00AD}", "\u{200E}", "\u{200F}",
        "\u{202A}", "\u{202B}", "\u{202C}", "\u{202D}", "\u{202E}", "\u{2066}", "\u{2067}", "\u{2068}", "\u{2069}",
        "\u{061C}", "\u{180E}", "\u{034F}", "\u{FE0F}", "\u{FE00}", "\u{2061}", "\u{2062}", "\u{2063}", "\u{2064}",
        "\u{115F}", "\u{1160}", "\u{3164}", "\u{FFA0}", "\u{E0001}", "\u{E0020}", "\u{1D173}",
        // Drawn as nothing, or as a box no clerk tells from another: blank symbols, loose
        // combining marks (after a digit or a dash no letter takes them), private use, unassigned.
        // (Not U+0301 and its like: after a letter NFKC composes it into one, Ó, refused on input.)
        "\u{2800}", "\u{1D159}", "\u{16FE4}", "\u{17B4}", "\u{0358}", "\u{20DD}", "\u{0489}", "\u{E000}", "\u{F8FF}",
        "\u{F0000}", "\u{0378}", "\u{2FFFD}",
    ]
    /// Every dash and hyphen variant.
    static let dashes: [Unicode.Scalar] = [
        "-", "\u{2010}", "\u{2011}", "\u{2012}", "\u{2013}", "\u{2014}", "\u{2015}", "\u{2212}", "\u{FE58}", "\u{FE63}",
        "\u{FF0D}", "\u{2E3A}", "\u{2E3B}", "\u{301C}", "\u{3030}", "\u{30A0}", "\u{058A}", "\u{05BE}", "\u{1806}", "\u{2043}",
        "\u{02D7}", "\u{2796}", "\u{2E17}", "\u{FE31}", "\u{FE32}",
        // Tildes: a GBK spreadsheet's wave dash arrives as FULLWIDTH TILDE.
        "~", "\u{FF5E}", "\u{2053}", "\u{223C}",
    ]
    /// Every white-space and separator character.
    static let spaces: [Unicode.Scalar] = [
        " ", "\t", "\n", "\r", "\u{0B}", "\u{0C}", "\u{85}", "\u{A0}", "\u{1680}", "\u{2000}", "\u{2001}", "\u{2002}", "\u{2003}",
        "\u{2004}", "\u{2005}", "\u{2006}", "\u{2007}", "\u{2008}", "\u{2009}", "\u{200A}", "\u{2028}", "\u{2029}", "\u{202F}",
        "\u{205F}", "\u{3000}",
    ]
    static let trailing: [String] = ["", ".", "。", "．", "、", ",", "，", ";", "；", "-", "—", ". ", "。\u{200B}", "..."]

    /// A respelling of `text`: each ASCII letter or digit maybe full-width or other-cased, each
    /// `-` any dash, digit runs maybe zero-padded, invisibles and spaces sprinkled anywhere,
    /// trailing punctuation appended.
    static func respell(_ text: String, _ g: inout SplitMix64) -> String {
        var out = String.UnicodeScalarView()
        var atRunStart = true
        for scalar in text.unicodeScalars {
            if g.chance(20) { out.append(g.pick(invisibles)) }
            let isDigit = ("0"..."9").contains(scalar)
            // White space may go anywhere except inside a digit run, where it would split the run
            // (which the canonical form deliberately keeps apart: "HT 2022 1" ≠ "HT 20221").
            if g.chance(10) && !(isDigit && !atRunStart) { out.append(g.pick(spaces)) }
            if isDigit && atRunStart && g.chance(30) {
                for _ in 0..<(1 + g.next() % 3) { out.append(g.chance(50) ? "0" : "\u{FF10}") }
            }
            atRunStart = !isDigit
            if scalar == "-" {
                out.append(g.pick(dashes))
                if g.chance(15) { out.append(g.pick(dashes)) }  // a doubled dash
            } else if scalar.isASCII, scalar.properties.isAlphabetic || isDigit {
                var value = scalar.value
                if g.chance(40), let upper = scalar.properties.uppercaseMapping.unicodeScalars.first, g.chance(50) { value = upper.value }
                else if g.chance(40), let lower = scalar.properties.lowercaseMapping.unicodeScalars.first { value = lower.value }
                if g.chance(40) { value += 0xFEE0 }  // full-width form
                out.append(Unicode.Scalar(value) ?? scalar)
            } else {
                out.append(scalar)
            }
        }
        return String(out) + g.pick(trailing)
    }

    static let identifiers = [
        "HT-2022-0001", "P-07", "粤工信2021-集群试点-07", "FS-IIoT/2023/015", "陶瓷产业集群数字化转型试点", "5G 智能工厂 二期",
        "SZ-A-1", "合同编号2022-88号", "MES上云-01",
    ]

    @Test("every generated respelling of an identifier has its canonical key", arguments: identifiers)
    func respellings(_ identifier: String) {
        let key = CanonicalText(identifier).key
        var g = TestSeed.generator("CanonicalText.respellings \(identifier)")
        for round in 0..<2_000 {
            let variant = Self.respell(identifier, &g)
            let variantKey = CanonicalText(variant).key
            if variantKey != key {
                Issue.record("round \(round): \(variant.unicodeScalars.map { String($0.value, radix: 16) }) → \"\(variantKey)\", expected \"\(key)\" (\(TestSeed.replay))")
                return
            }
        }
    }

    @Test("each invisible, dash, space and trailing mark alone", arguments: [
        ("P-07", "P-07 "), ("P-07", "P-07\u{200B}"), ("P-07", "\u{FEFF}P-07"), ("P-07", "P\u{00AD}-07"), ("P-07", "P–07"),
        ("P-07", "Ｐ－０７"), ("P-07", "p-7"), ("P-07", "P-007。"), ("P-07", "P - 07"), ("P-07", "P—07."),
        ("HT-2022-0001", "HT\u{2011}2022\u{2212}0001"), ("HT-2022-0001", "ht-2022-1"), ("HT-2022-0001", "ＨＴ－２０２２－０００１。"),
        ("项目①", "项目1"), ("ﬁber", "FIBER"), ("Straße", "STRASSE"), ("P-07", "P-07\u{202E}"), ("A\u{0301}", "Á"),
        ("HT 2022 007", "HT 2022 7"), ("HT 2022 007", "HT-2022-7"), ("HT\u{200B}2022", "HT2022"), ("V1.05", "v1.05。"),
    ])
    func pairs(_ pair: (String, String)) {
        #expect(CanonicalText(pair.0).key == CanonicalText(pair.1).key, "\"\(pair.0)\" vs \"\(pair.1)\"")
    }

    @Test("different identifiers stay different", arguments: [
        ("P-07", "P-08"), ("P-07", "P-70"), ("P-07", "P-17"), ("HT-2022-0001", "HT-2022-0010"), ("HT-100", "HT-10"),
        ("项目一期", "项目二期"), ("A-1", "B-1"), ("HT-2022-1", "HT-20221"), ("0", ""), ("P-0", "P-"),
        ("V1.05", "V1.5"), ("HT 2022 1", "HT 20221"),
        // Kept apart until the bureaus decide otherwise (Deploy/policy/IDENTITY.md, "Kept apart for now").
        ("HT/2022/1", "HT-2022-1"), ("HT_2022_1", "HT-2022-1"), ("HT.2022.1", "HT-2022-1"), ("HT/2022/1", "HT_2022_1"),
    ])
    func distinct(_ pair: (String, String)) {
        #expect(CanonicalText(pair.0).key != CanonicalText(pair.1).key, "\"\(pair.0)\" vs \"\(pair.1)\"")
    }

    @Test("every combining mark, private-use and blank character is dropped wherever it stands, as a clerk cannot see it")
    func everyLooseMarkIsDropped() {
        let key = CanonicalText("HT-2022-483021").key
        var checked = 0
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let category = scalar.properties.generalCategory
            guard [.nonspacingMark, .enclosingMark, .privateUse].contains(category) || CanonicalText.blankSymbols.contains(value) else { continue }
            // Private use is 137,000 code points: every 97th, and both ends of each block.
            if category == .privateUse && value % 97 != 0 && ![0xE000, 0xF8FF, 0xF0000, 0xFFFFD, 0x100000, 0x10FFFD].contains(value) { continue }
            checked += 1
            for variant in ["HT-2022-483021" + String(scalar), String(scalar) + "HT-2022-483021", "HT-2022-483" + String(scalar) + "021", "HT-" + String(scalar) + "2022-483021"] {
                let variantKey = CanonicalText(variant).key
                // Either it is dropped, or the input refuses it (U+0345 case-folds to the Greek ι).
                let refused = (try? CanonicalText.requireComparable(variant, field: "f")) == nil
                if variantKey != key && !refused {
                    Issue.record("U+\(String(value, radix: 16, uppercase: true)) (\(category)) in \(variant.debugDescription) → \"\(variantKey)\"")
                    return
                }
            }
        }
        #expect(checked > 2_500, "\(checked) characters checked")
    }

    @Test("identifiers with letters that pass for ASCII or Chinese ones are refused on input; Chinese, ASCII and full-width ones are taken")
    func lookalikeLetters() {
        for text in ["HT-2022-483021", "ＨＴ－２０２２", "陶瓷产业集群数字化转型试点", "5G 智能工厂 二期", "Straße 7号", "①期", "々", ""] {
            #expect(throws: Never.self, "\(text)") { try CanonicalText.requireComparable(text, field: "application.contract_number") }
        }
        // Cyrillic Н and Т, Greek Τ, Latin with an acute (composed by NFKC), Hangul, kana.
        for text in ["\u{041D}\u{0422}-2022-483021", "H\u{03A4}-2022", "HT-2022-\u{00D3}01", "HT-2022-O\u{0301}01", "한-1", "プロジェクト"] {
            let error = #expect(throws: SubsidyError.self, "\(text)") { try CanonicalText.requireComparable(text, field: "application.contract_number") }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("application.contract_number") == true, "\(String(describing: error))")
        }
        // A project name keeps its letters (a chemical's α, a size in µm); an unassigned code
        // point is refused in every identifier (a later Unicode could give it a key).
        for text in ["α-烯烃项目", "5 µm 精密加工", "β-胡萝卜素生产线"] {
            #expect(throws: Never.self, "\(text)") { try CanonicalText.requireComparable(text, field: "application.project_name", lookalikeLetters: false) }
        }
        for lookalikes in [true, false] {
            let error = #expect(throws: SubsidyError.self) { try CanonicalText.requireComparable("项目\u{0378}一期", field: "f", lookalikeLetters: lookalikes) }
            #expect(error?.message.contains("U+0378 at character 3") == true, "\(String(describing: error))")
        }
    }

    @Test("symbols, strokes and letters that pass for a dash, a letter or a digit are refused in identifiers; the marks clerks type are taken")
    func lookalikeSymbols() {
        // Found by review: each gave the funded contract HT-2022-nanhai-2 a second key.
        let dashes = ["\u{2500}", "\u{2501}", "\u{2574}", "\u{2576}", "\u{257C}", "\u{2504}", "\u{2508}", "\u{254C}", "\u{2550}", "\u{23AF}", "\u{23BC}", "\u{23BD}",
                      "\u{23E4}", "\u{31D0}", "\u{268A}", "\u{00AC}", "\u{2248}", "\u{1B78}", "\u{4E00}", "\u{2F00}"]
        for dash in dashes {
            let text = "HT\(dash)2022\(dash)nanhai\(dash)2"
            let error = #expect(throws: SubsidyError.self, "\(text)") { try CanonicalText.requireComparable(text, field: "application.contract_number") }
            #expect(error?.code == .invalidArgument && error?.message.hasPrefix("application.contract_number: holds ") == true, "\(String(describing: error))")
        }
        // Review of the above: a stroke beside one Chinese character, a pair of them, letter-shaped ideographs.
        for text in ["H\u{22A4}-2022-nanhai-2", "H\u{4E05}-2022-nanhai-2", "HT-2\u{3007}22-nanhai-2", "HT-2\u{25CB}22-nanhai-2", "HT-2022\u{4E28}", "pilot\u{00D7}1",
                     "佛工信一2022-99号", "HT一一2022一一1", "H丁-2022-nanhai-2", "A\u{30FB}B-7"] {
            #expect(throws: SubsidyError.self, "\(text)") { try CanonicalText.requireComparable(text, field: "application.pilot_id") }
        }
        // A project name: the trailing box-drawing line and a small capital that passed, and the class around them.
        for text in ["5G+边缘计算智能工厂标杆示范\u{2500}", "5\u{0262}+边缘计算智能工厂标杆示范", "5G+边缘计算\u{31D0}", "\u{0421}MT 车间", "数据\u{2588}平台", "5G\u{2795}工厂",
                     "1000×600 产线", "2〇22年技改项目"] {
            let error = #expect(throws: SubsidyError.self, "\(text)") { try CanonicalText.requireComparable(text, field: "application.project_name", lookalikeLetters: false) }
            #expect(error?.message.hasPrefix("application.project_name: holds ") == true, "\(String(describing: error))")
        }
        // A spreadsheet's text marks, as an export writes a code (="…") or a clerk types one ('…).
        for text in ["=\"HT-2022-nanhai-2\"", "'HT-2022-nanhai-2", " =HT-1", "＝\"HT-1\""] {
            let error = #expect(throws: SubsidyError.self, "\(text)") { try CanonicalText.requireComparable(text, field: "application.contract_number") }
            #expect(error?.message.contains("a spreadsheet's mark that the cell is text") == true, "\(String(describing: error))")
        }
        // What clerks write is taken.
        for text in ["HT-2022-483021", "佛工信〔2022〕99号", "合同（2022）第1号", "第一期", "HT-2022-1、2", "《采购合同》一期", "HT—2022—1", "HT－2022－1", "A·B-7",
                     "一期合同-7", "合同(一)", "合同（一）", "\u{3220}", "HT-2022-乙", "二〇二二年第3号"] {
            #expect(throws: Never.self, "\(text)") { try CanonicalText.requireComparable(text, field: "application.contract_number") }
        }
        for text in ["α-烯烃项目", "5 µm 精密加工", "β-胡萝卜素生产线", "二〇二二年度技改项目", "1000x600 产线", "5G+边缘计算智能工厂标杆示范", "“智造”一期", "−40℃ 冷链仓储", "第Ⅱ期",
                     "5G一体化平台"] {
            #expect(throws: Never.self, "\(text)") { try CanonicalText.requireComparable(text, field: "application.project_name", lookalikeLetters: false) }
        }
    }

    @Test("every symbol and punctuation mark of the BMP outside ASCII is refused in a contract number, or compared as a dash, a space, nothing or a digit, or is a mark clerks type")
    func everySymbolIsDecided() {
        var (refused, folded, kept) = (0, 0, [String]())
        for value in UInt32(0x80)...0xFFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            switch scalar.properties.generalCategory {
            case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol, .otherPunctuation, .openPunctuation, .closePunctuation,
                 .initialPunctuation, .finalPunctuation, .connectorPunctuation:
                break
            default:
                continue
            }
            let text = "HT\(scalar)2022"
            do throws(SubsidyError) {
                try CanonicalText.requireComparable(text, field: "f")
            } catch {
                refused += 1
                continue
            }
            // Taken: it must compare as what a clerk could have typed — ASCII, a Chinese character
            // (a Kangxi radical is its ideograph) or one of the marks clerks type — never as a
            // character of its own beside them.
            let canonical = CanonicalText.canonical(text)
            if canonical.unicodeScalars.allSatisfy({ $0.isASCII }) {
                folded += 1
            } else if !canonical.unicodeScalars.allSatisfy({ $0.isASCII || CanonicalText.isChinese($0) || CanonicalText.clerkPunctuation.contains($0.value) }) {
                kept.append("\(scalar.codePointText) \(canonical)")
            }
        }
        #expect(kept.isEmpty, "taken and kept as characters of their own: \(kept.prefix(40))")
        #expect(refused > 3_000 && folded > 100, "\(refused) refused, \(folded) folded")
    }

    @Test("only invisible characters, white space and punctuation is empty")
    func blank() {
        for text in ["", " ", "\u{200B}", "\u{3000}\u{FEFF}", "。", "-", " . ", "\u{00AD}\u{2060}"] {
            #expect(CanonicalText(text).isEmpty, "\(text.unicodeScalars.map(\.value))")
        }
        #expect(!CanonicalText("0").isEmpty)
    }

    @Test("the canonical form is idempotent and keeps what was typed")
    func idempotent() {
        var g = TestSeed.generator("CanonicalText.idempotent")
        for identifier in Self.identifiers {
            for _ in 0..<200 {
                let text = CanonicalText(Self.respell(identifier, &g))
                #expect(CanonicalText.canonical(text.key) == text.key, "\(text.typed.unicodeScalars.map(\.value)) (\(TestSeed.replay))")
                #expect(text.typed != text.key || text.description == "\"\(text.typed)\"", "\(TestSeed.replay)")
            }
        }
    }

    @Test("recently canonicalised texts give the same key again, past the memo's capacity and for long texts")
    func remembered() {
        var g = TestSeed.generator("CanonicalText.remembered")
        let texts = (0..<5_000).map { n in Self.respell(Self.identifiers[n % Self.identifiers.count], &g) + "-\(n)" }
        let first = texts.map(CanonicalText.canonical)
        // Spellings Swift's `==` calls equal are separate memo entries, each computed from its
        // own bytes: the order they arrive in changes nothing.
        let composed = ["\u{C5}-7", "A\u{30A}-7", "\u{212B}-7"]
        #expect(Set(composed).count == 1)
        // Tests beside this one may fill and clear the memo between two lines: a few tries.
        #expect((0..<3).contains { _ in !CanonicalText.canonical(composed[0]).isEmpty && CanonicalText.remembered(composed[0]) != nil })
        #expect(CanonicalText.remembered(composed[1]) == nil)
        #expect(Set(composed.map(CanonicalText.canonical) + composed.reversed().map(CanonicalText.canonical)).count == 1)
        for (text, key) in zip(texts, first) where CanonicalText.canonical(text) != key {
            Issue.record("\(text.unicodeScalars.map(\.value)) gave \(key), then \(CanonicalText.canonical(text)) (\(TestSeed.replay))")
            return
        }
        let long = String(repeating: "ＨＴ－２０２２ ", count: 40)
        #expect(long.utf8.count > 256)
        #expect(CanonicalText.canonical(long) == CanonicalText.canonical(long) && CanonicalText.canonical(long).hasPrefix("ht-2022-ht-2022"))
    }

    @Test("a respelled contract number is the same content; a respelled pilot id the same pilot")
    func fingerprints() {
        var g = TestSeed.generator("CanonicalText.fingerprints")
        let base = Fixtures.voucher(contract: "100.00", contractNumber: "HT-2022-0001")
        for _ in 0..<500 {
            var variant = base
            variant.contractNumber = Self.respell("HT-2022-0001", &g)
            #expect(variant.contentFingerprint == base.contentFingerprint, "\(variant.contractNumber.unicodeScalars.map(\.value)) (\(TestSeed.replay))")
        }
        var pilot = Fixtures.clusterPilot()
        for _ in 0..<500 {
            pilot.pilotID = Self.respell(Fixtures.pilotID, &g)
            #expect(pilot.pilotKey == Fixtures.pilotKey, "\(pilot.pilotID.unicodeScalars.map(\.value)) (\(TestSeed.replay))")
        }
    }

    @Test("a megabyte of alternating letters and digits: one run each, joined in order")
    func manyRuns() {
        // 500,000 runs; the key was once assembled by copying the whole result for every run.
        let text = String(repeating: "Ａ０７", count: 250_000)
        let key = CanonicalText(text).key
        #expect(key.utf8.count == 250_000 * 4 - 1)
        #expect(key.hasPrefix("a-7-a-7-") && key.hasSuffix("-a-7"))
        #expect(key == Array(repeating: "a-7", count: 250_000).joined(separator: "-"))
    }
}
