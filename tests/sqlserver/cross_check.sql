-- The statements of the tds executor's cross-check (tests/live.rs,
-- sqlserver_the_tds_executor_decodes_what_pymssql_decodes), run through pymssql
-- (tests/sqlserver/cross_check.py) and through the executor. One statement per line;
-- blank lines and lines starting with `--` are skipped by both.
--
-- Left out: DATE, TIME and DATETIME2, whose metadata iridium writes with a spurious byte,
-- so that every client loses step with the connection (pymssql's is then dead, the
-- executor closes its own: the transcripts would stop agreeing for the emulator's sake,
-- and compare nothing after it); and SMALLDATETIME, which iridium sends as varchar text.
-- See docs/sqlserver.md.
IF OBJECT_ID('xc_tds') IS NOT NULL DROP TABLE xc_tds
CREATE TABLE xc_tds (id INT NOT NULL PRIMARY KEY, ti TINYINT, si SMALLINT, bi BIGINT, bt BIT, de DECIMAL(12,3), nu NUMERIC(38,10), fl FLOAT, re REAL, ch CHAR(5), vc VARCHAR(40), nv NVARCHAR(40), vb VARBINARY(16), ui UNIQUEIDENTIFIER)
-- Parameterless INSERTs: a SQL batch from pymssql, an sp_executesql call from the executor.
INSERT INTO xc_tds VALUES (1, 255, -32768, 9000000000, 1, 12.500, 123456789.0123456789, 3.141592653589793, 0.5, 'ab', 'say "hi" \ bye', N'ünïcødé 漢字', 0x00FF10, '6F9619FF-8B86-D011-B42D-00C04FC964FF')
INSERT INTO xc_tds (id) VALUES (2)
INSERT INTO xc_tds VALUES (3, 0, 32767, -9000000000, 0, -0.001, 0, 1E-10, -2.25, '', 'O''Brien café', N'', 0x, '00000000-0000-0000-0000-000000000000')
-- Several rows, every type, a row of NULLs.
SELECT * FROM xc_tds ORDER BY id
SELECT id, ch, nv FROM xc_tds WHERE id = 1
-- An empty result (iridium types its columns from the values: with none, all varchar).
SELECT id, bt, vb FROM xc_tds WHERE id > 100
UPDATE xc_tds SET si = 7 WHERE id > 1
SELECT id, si FROM xc_tds ORDER BY id DESC
-- Literals and expressions, and NULLs of each type outside a table. Non-ASCII in a VARCHAR
-- reads as mojibake through both clients ('café' as 'cafÃ©'): iridium sends the UTF-8 bytes
-- under a Latin1_General collation (code page 1252), and both decode by the collation.
SELECT CAST(200 AS TINYINT) AS t, CAST(-2 AS SMALLINT) AS s, CAST(-2147483648 AS INT) AS i, CAST(9223372036854775807 AS BIGINT) AS b, CAST(1 AS BIT) AS bt
SELECT CAST(1.5 AS DECIMAL(5,2)) AS d, CAST(-0.75 AS NUMERIC(4,2)) AS n, CAST(0.1 AS FLOAT) AS f, CAST(1E300 AS FLOAT) AS big, CAST(1.5 AS REAL) AS r
SELECT 'plain' AS v, 'café' AS vn, N'ünïcødé' AS n, CAST('ab' AS CHAR(4)) AS c, CAST(0x0102 AS VARBINARY(4)) AS vb, CAST('6F9619FF-8B86-D011-B42D-00C04FC964FF' AS UNIQUEIDENTIFIER) AS u
SELECT CAST(NULL AS TINYINT) AS t, CAST(NULL AS SMALLINT) AS s, CAST(NULL AS INT) AS i, CAST(NULL AS BIGINT) AS b, CAST(NULL AS BIT) AS bt
SELECT CAST(NULL AS DECIMAL(5,2)) AS d, CAST(NULL AS FLOAT) AS f, CAST(NULL AS REAL) AS r, CAST(NULL AS VARCHAR(3)) AS v, CAST(NULL AS NVARCHAR(3)) AS n, CAST(NULL AS VARBINARY(3)) AS vb, CAST(NULL AS UNIQUEIDENTIFIER) AS u
SELECT COUNT(*) AS n, SUM(de) AS total, MAX(nv) AS most FROM xc_tds
-- MONEY and DATETIME: the values are iridium's, wrong for SQL Server (MONEY's two 4-byte
-- halves swapped, so 12.5 arrives as 53687091200; DATETIME's days counted from 2000-01-01,
-- so a hundred years early), but both clients decode the same bytes the same way, which is
-- what is compared. Whole seconds only: iridium takes no fractional DATETIME literal.
SELECT CAST(12.5 AS MONEY) AS m, CAST(-3.25 AS SMALLMONEY) AS sm, CAST('2024-01-02 03:04:05' AS DATETIME) AS dt, CAST(NULL AS MONEY) AS nm, CAST(NULL AS DATETIME) AS ndt
-- Errors, each by SQL Server's number; the session stays usable after each.
SELECT * FROM xc_tds_missing
SELEC 1
SELECT 1 / 0 AS x
SELECT no_such_column FROM xc_tds
SELECT CAST('x' AS INT) AS y
-- A duplicate key: iridium says 50000 where SQL Server says 2627; through the executor
-- this is an sp_executesql call, so its error comes back by another path than a batch's.
INSERT INTO xc_tds (id) VALUES (1)
SELECT COUNT(*) AS n FROM xc_tds
DROP TABLE xc_tds
