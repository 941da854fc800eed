/*
 * CrossCheck: the reference decoding for the DRDA client's cross-check test.
 *
 * Runs SQL statements through Derby's own JDBC client (derbyclient.jar) and prints what
 * came back as a canonical text transcript, which the Rust test compares line by line
 * with what helios-matrix's DRDA client decodes for the same statements.
 *
 *   javac -d /tmp/crosscheck tests/derby/CrossCheck.java
 *   printf '%s\n' 'VALUES 1' | java -cp /tmp/crosscheck:/usr/share/java/derbyclient.jar \
 *     CrossCheck 'jdbc:derby://127.0.0.1:1527/helios;create=true' test test
 *
 * Input (stdin, UTF-8): one SQL statement per line, without a trailing `;`; blank lines
 * are skipped. Each statement runs with Statement.execute on one autocommit connection.
 *
 * Output (stdout, UTF-8, one record per line), for each statement:
 *   COLUMNS NAME:TYPENAME, NAME:TYPENAME, ...   (getColumnLabel, getColumnTypeName)
 *   ROW v | v | ...                             (one per row), then
 *   END
 * or, when the first result is not a result set,
 *   COUNT n                                     (getUpdateCount; DDL gives 0)
 * or, when the statement fails,
 *   ERROR sqlstate errorcode                    (the first SQLException's SQLState and
 *                                                vendor code), and the next line runs.
 * Only the first result of a statement is reported.
 *
 * Values: NULL for SQL NULL; SMALLINT/INTEGER/BIGINT as decimal digits; DECIMAL/NUMERIC
 * as BigDecimal.toPlainString(); REAL as Float.toString(getFloat); FLOAT/DOUBLE as
 * Double.toString(getDouble); CHAR/VARCHAR/LONG VARCHAR in double quotes, with `\` and
 * `"` escaped by a backslash (nothing else is escaped); DATE, TIME and TIMESTAMP as
 * toString() of getDate/getTime/getTimestamp; BOOLEAN as true/false; any other type as
 * `?` followed by its type name.
 *
 * Exit status: 0 when every line was run (statement errors included), 1 when the
 * connection could not be made, 2 on a usage error.
 */

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;

public final class CrossCheck {
    private CrossCheck() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 3) {
            System.err.println("usage: java -cp <dir>:derbyclient.jar CrossCheck <jdbc-url> <user> <password>");
            System.exit(2);
        }
        var in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        var out = new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        try (Connection conn = DriverManager.getConnection(args[0], args[1], args[2])) {
            conn.setAutoCommit(true);
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                run(conn, line, out);
                out.flush();
            }
        } catch (SQLException e) {
            out.flush();
            System.err.println("CrossCheck: cannot connect to " + args[0] + ": " + e.getSQLState() + " "
                    + e.getErrorCode() + " " + e.getMessage());
            System.exit(1);
        }
        out.flush();
    }

    /** Runs one statement and writes its transcript. */
    private static void run(Connection conn, String sql, PrintWriter out) {
        try (Statement stmt = conn.createStatement()) {
            if (stmt.execute(sql)) {
                try (ResultSet rs = stmt.getResultSet()) {
                    writeResultSet(rs, out);
                }
            } else {
                out.print("COUNT " + stmt.getUpdateCount() + "\n");
            }
        } catch (SQLException e) {
            out.print("ERROR " + e.getSQLState() + " " + e.getErrorCode() + "\n");
        }
    }

    /**
     * Writes a whole result set; the lines are collected first so that an error while
     * fetching leaves only the ERROR line.
     */
    private static void writeResultSet(ResultSet rs, PrintWriter out) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        int n = md.getColumnCount();
        List<String> lines = new ArrayList<>();
        List<String> columns = new ArrayList<>(n);
        for (int i = 1; i <= n; i++) {
            columns.add(md.getColumnLabel(i) + ":" + md.getColumnTypeName(i));
        }
        lines.add("COLUMNS " + String.join(", ", columns));
        while (rs.next()) {
            List<String> values = new ArrayList<>(n);
            for (int i = 1; i <= n; i++) {
                values.add(render(rs, i, md.getColumnType(i), md.getColumnTypeName(i)));
            }
            lines.add("ROW " + String.join(" | ", values));
        }
        lines.add("END");
        for (String l : lines) {
            out.print(l + "\n");
        }
    }

    /** Column {@code i} of the current row, rendered by its JDBC type. */
    private static String render(ResultSet rs, int i, int type, String typeName) throws SQLException {
        String text = switch (type) {
            case Types.TINYINT, Types.SMALLINT, Types.INTEGER, Types.BIGINT -> {
                long v = rs.getLong(i);
                yield rs.wasNull() ? null : Long.toString(v);
            }
            case Types.DECIMAL, Types.NUMERIC -> {
                BigDecimal v = rs.getBigDecimal(i);
                yield v == null ? null : v.toPlainString();
            }
            case Types.REAL -> {
                float v = rs.getFloat(i);
                yield rs.wasNull() ? null : Float.toString(v);
            }
            case Types.FLOAT, Types.DOUBLE -> {
                double v = rs.getDouble(i);
                yield rs.wasNull() ? null : Double.toString(v);
            }
            case Types.CHAR, Types.VARCHAR, Types.LONGVARCHAR -> {
                String v = rs.getString(i);
                yield v == null ? null : quote(v);
            }
            case Types.DATE -> {
                var v = rs.getDate(i);
                yield v == null ? null : v.toString();
            }
            case Types.TIME -> {
                var v = rs.getTime(i);
                yield v == null ? null : v.toString();
            }
            case Types.TIMESTAMP -> {
                var v = rs.getTimestamp(i);
                yield v == null ? null : v.toString();
            }
            case Types.BOOLEAN -> {
                boolean v = rs.getBoolean(i);
                yield rs.wasNull() ? null : Boolean.toString(v);
            }
            default -> rs.getObject(i) == null ? null : "?" + typeName;
        };
        return text == null ? "NULL" : text;
    }

    /** {@code s} in double quotes, with backslash and double quote backslash-escaped. */
    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
