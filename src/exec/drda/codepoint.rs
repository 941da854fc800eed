//! DDM code points used here (DRDA volume 3, "DDM Architecture"), named as the
//! specification names them.

// Commands.
pub const EXCSAT: u16 = 0x1041;
pub const ACCSEC: u16 = 0x106D;
pub const SECCHK: u16 = 0x106E;
pub const ACCRDB: u16 = 0x2001;
pub const EXCSQLIMM: u16 = 0x200A;
pub const PRPSQLSTT: u16 = 0x200D;
pub const OPNQRY: u16 = 0x200C;
pub const CNTQRY: u16 = 0x2006;
pub const CLSQRY: u16 = 0x2005;
pub const EXCSQLSTT: u16 = 0x200B;
pub const RDBCMM: u16 = 0x200E;
pub const RDBRLLBK: u16 = 0x200F;

// Replies and reply messages.
pub const ACCSECRD: u16 = 0x14AC;
pub const SECCHKRM: u16 = 0x1219;
pub const ACCRDBRM: u16 = 0x2201;
pub const SQLCARD: u16 = 0x2408;
pub const SQLDARD: u16 = 0x2411;
pub const OPNQRYRM: u16 = 0x2205;
pub const QRYDSC: u16 = 0x241A;
pub const QRYDTA: u16 = 0x241B;
pub const ENDQRYRM: u16 = 0x220B;
pub const SQLERRRM: u16 = 0x2213;
pub const RDBNFNRM: u16 = 0x2211;
pub const RDBAFLRM: u16 = 0x221A;
pub const QRYNOPRM: u16 = 0x2202;
pub const OPNQFLRM: u16 = 0x2212;
pub const SYNTAXRM: u16 = 0x124C;
pub const PRCCNVRM: u16 = 0x1245;
pub const CMDCHKRM: u16 = 0x1254;
pub const VALNSPRM: u16 = 0x1252;
pub const PRMNSPRM: u16 = 0x1251;
pub const CMDNSPRM: u16 = 0x1250;
pub const OBJNSPRM: u16 = 0x1253;
pub const MGRLVLRM: u16 = 0x1210;
pub const AGNPRMRM: u16 = 0x1232;
pub const RSCLMTRM: u16 = 0x1233;
pub const DTAMCHRM: u16 = 0x220E;

// Parameters.
pub const EXTNAM: u16 = 0x115E;
pub const SRVNAM: u16 = 0x116D;
pub const SRVRLSLV: u16 = 0x115A;
pub const SRVCLSNM: u16 = 0x1147;
pub const MGRLVLLS: u16 = 0x1404;
pub const SECMEC: u16 = 0x11A2;
pub const SECCHKCD: u16 = 0x11A4;
pub const USRID: u16 = 0x11A0;
pub const PASSWORD: u16 = 0x11A1;
pub const RDBNAM: u16 = 0x2110;
pub const RDBACCCL: u16 = 0x210F;
pub const PRDID: u16 = 0x112E;
pub const TYPDEFNAM: u16 = 0x002F;
pub const TYPDEFOVR: u16 = 0x0035;
pub const CCSIDSBC: u16 = 0x119C;
pub const CCSIDDBC: u16 = 0x119D;
pub const CCSIDMBC: u16 = 0x119E;
pub const CRRTKN: u16 = 0x2135;
pub const PKGNAMCSN: u16 = 0x2113;
pub const RDBCMTOK: u16 = 0x2105;
pub const RTNSQLDA: u16 = 0x2116;
pub const TYPSQLDA: u16 = 0x2146;
pub const QRYBLKSZ: u16 = 0x2114;
pub const QRYCLSIMP: u16 = 0x215D;
pub const QRYINSID: u16 = 0x215B;
pub const SQLSTT: u16 = 0x2414;
pub const SQLDTA: u16 = 0x2412;
pub const FDODSC: u16 = 0x0010;
pub const FDODTA: u16 = 0x147A;

// Managers, for EXCSAT's MGRLVLLS.
pub const AGENT: u16 = 0x1403;
pub const SQLAM: u16 = 0x2407;
pub const RDB: u16 = 0x240F;
pub const SECMGR: u16 = 0x1440;
pub const UNICODEMGR: u16 = 0x1C08;

/// SECMEC: user id and password, in clear (what Derby's BUILTIN authentication takes).
pub const USRIDPWD: u16 = 3;

/// A name for messages: the code point's DDM name where known.
pub fn name(cp: u16) -> String {
    let known = match cp {
        SQLERRRM => "SQLERRRM (SQL error)",
        RDBNFNRM => "RDBNFNRM (database not found)",
        RDBAFLRM => "RDBAFLRM (database access failed)",
        QRYNOPRM => "QRYNOPRM (query not open)",
        OPNQFLRM => "OPNQFLRM (open query failed)",
        SYNTAXRM => "SYNTAXRM (data stream syntax error)",
        PRCCNVRM => "PRCCNVRM (conversational protocol error)",
        CMDCHKRM => "CMDCHKRM (command check)",
        VALNSPRM => "VALNSPRM (parameter value not supported)",
        PRMNSPRM => "PRMNSPRM (parameter not supported)",
        CMDNSPRM => "CMDNSPRM (command not supported)",
        OBJNSPRM => "OBJNSPRM (object not supported)",
        MGRLVLRM => "MGRLVLRM (manager level conflict)",
        AGNPRMRM => "AGNPRMRM (permanent agent error)",
        RSCLMTRM => "RSCLMTRM (resource limits reached)",
        DTAMCHRM => "DTAMCHRM (data descriptor mismatch)",
        _ => "",
    };
    if known.is_empty() {
        format!("code point {cp:04X}")
    } else {
        known.to_string()
    }
}
