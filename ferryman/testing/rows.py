"""Rows with edge values for the every-type sample schemas (tests, demo, bench)."""

from __future__ import annotations

MYSQL_COLUMNS = (
    "id, t_tiny, t_tiny_u, t_small, t_small_u, t_med, t_med_u, t_int, t_int_u, t_big, t_big_u, "
    "t_dec, t_dec65, t_dec_u, t_float, t_double, t_bit1, t_bit64, t_bool, t_date, t_dt, t_dt0, "
    "t_ts, t_time, t_time0, t_year, t_char, t_vc, t_tinytext, t_text, t_medtext, t_longtext, "
    "t_bin, t_vbin, t_tinyblob, t_blob, t_medblob, t_longblob, t_json, t_enum, t_set, t_uuid, "
    "t_inet6"
)

MYSQL_ROWS = [
    # maxima, unicode, bytes with trailing zeros
    "(1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, "
    "9223372036854775807, 18446744073709551615, 1234567890123456789012345678.1234567890, "
    "12345678901234567890123456789012345.123456789012345678901234567890, 99999999.99, "
    "1.2345678, 1.7976931348623157e308, b'1', "
    "b'1111111111111111111111111111111111111111111111111111111111111111', "
    "1, '9999-12-31', '9999-12-31 23:59:59.999999', '1000-01-01 00:00:00', "
    "'2038-01-19 03:14:07.999', '838:59:59.99', '838:59:59', 2155, 'abc', 'emoji 😀 ü ß', "
    "'', 'NULL', 'tab\\there\\nnewline \\\\ backslash \"quote\" ''apos'' \\r cr', "
    "REPEAT('long ', 20000), "
    "X'6162000000000000', X'00FF0A0D095C225C4E', X'', X'00', REPEAT(X'00FF', 1000), X'5C4E', "
    '\'{"k": "é😀", "n": [1, 2.5, null], "s": "tab\\\\t"}\', \'it\'\'s large\', \'red,blue\', '
    "'123e4567-e89b-12d3-a456-426614174000', '::ffff:1.2.3.4')",
    # minima, negatives
    "(2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, "
    "-1234567890123456789012345678.1234567890, -0.000000000000000000000000000001, 0.00, "
    "-3.4e38, -2.2250738585072014e-308, b'0', b'0', 0, '1000-01-01', '1000-01-01 00:00:00.000000', "
    "'2000-02-29 12:00:00', '1970-01-01 00:00:01', '-838:59:59.99', '-00:00:01', 1901, '', "
    "' trailing ', 'x', 'y', 'z', '\\\\N', X'0000000000000000', X'', X'FF', X'', X'', X'', "
    "'[]', 'small', '', '00000000-0000-0000-0000-000000000000', '::')",
    # NULL everywhere it may be
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, 7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    # ordinary values
    "(4, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 0.5, 1.5, 2.25, 0.1, 0.1, b'1', b'101', 1, '2024-02-29', "
    "'2024-02-29 23:59:59.5', '2024-02-29 23:59:59', '2024-02-29 23:59:59.123', '25:00:00.5', "
    "'00:00:00', 0, 'NULL', 'N', '\\\\', '\\t', 'a\\nb', 'c', X'01', X'02', X'03', X'04', X'05', "
    "X'06', '\"just a string\"', 'medium', 'green', NULL, '2001:db8::1')",
]

POSTGRES_COLUMNS = (
    "id, big_id, ident_default, t_small, t_int, t_big, t_num, t_num_ps, t_real, t_double, t_bool, "
    "t_bit, t_date, t_ts, t_ts3, t_tstz, t_tstz3, t_time, t_interval, t_interval3, t_char, t_vc, "
    "t_vc_nolen, t_text, t_bytea, t_json, t_jsonb, t_uuid, t_inet, t_cidr, t_macaddr, t_int_arr, "
    "t_text_arr, t_mood, t_moods"
)

POSTGRES_ROWS = [
    "(1, 9223372036854775807, 2147483647, 32767, 2147483647, 9223372036854775807, "
    "12345678901234567890.123456789012345678901234567890, 12345678.1234, 3.4028235e38, "
    "1.7976931348623157e308, true, B'10101', '9999-12-31', '9999-12-31 23:59:59.999999', "
    "'2024-02-29 12:34:56.789', '2024-02-29 12:34:56.123456+05:30', '1970-01-01 00:00:00.001+00', "
    "'24:00:00', '1 year 2 mons 3 days 04:05:06.789', '-00:00:00.123', 'ab ', 'emoji 😀', "
    "E'tab\\there\\nnew \\\\ back \"q\" ''a''', 'NULL', '\\x00ff0a0d5c4e'::bytea, "
    '\'{"b": 1, "a": [1, 2.5, null, "é😀"]}\', \'{"b": 1, "a": "x"}\', '
    "'123e4567-e89b-12d3-a456-426614174000', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', "
    "'{1,2,NULL}', '{\"a,b\",\"q\\\"uote\",NULL,\"\"}', 'it''s great', '{sad,\"it''s great\"}')",
    "(2, -9223372036854775808, -2147483648, -32768, -2147483648, -9223372036854775808, "
    "-0.000000000000000000000000000001, -0.0001, -1.17549435e-38, -2.2250738585072014e-308, "
    "false, B'00000', '0001-01-01', '0001-01-01 00:00:00', '1970-01-01 00:00:00', "
    "'2038-01-19 03:14:08+00', '2000-01-01 00:00:00+14', '00:00:00', '-1 days +02:00:00', "
    "'0', '', '', '', '', ''::bytea, 'null', '[]', '00000000-0000-0000-0000-000000000000', "
    "'::1', '::/0', '00:00:00:00:00:00', '{}', '{}', 'sad', '{}')",
    "(3, 3, 3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL)",
]
