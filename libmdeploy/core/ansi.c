/*
 * ansi.c - terminal escape sequences out of text that goes to files.
 *
 * Programs that colour their output whether or not it goes to a terminal
 * (Moodle's admin/cli/checks.php does: its OK/CRITICAL labels are ANSI
 * colours) would otherwise fill hook logs, build logs and error messages
 * with escape codes. Recognised: CSI (ESC [ params final), OSC (ESC ] ...
 * BEL or ESC \), and two-character ESC sequences. The state carries a
 * sequence split across two chunks of output.
 */
#include "mdeploy_private.h"

enum { A_TEXT = 0, A_ESC, A_CSI, A_OSC, A_OSC_ESC };

size_t mdeploy__ansi_strip(int *state, char *data, size_t len)
{
	size_t i, o = 0;
	int st = state ? *state : A_TEXT;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		switch (st) {
		case A_TEXT:
			if (c == 0x1b)
				st = A_ESC;
			else
				data[o++] = (char)c;
			break;
		case A_ESC:
			st = c == '[' ? A_CSI : c == ']' ? A_OSC : A_TEXT;
			break;
		case A_CSI:
			if (c >= 0x40 && c <= 0x7e)
				st = A_TEXT;
			break;
		case A_OSC:
			if (c == 0x07)
				st = A_TEXT;
			else if (c == 0x1b)
				st = A_OSC_ESC;
			break;
		case A_OSC_ESC:
			st = c == '\\' ? A_TEXT : A_OSC;
			break;
		}
	}
	if (state)
		*state = st;
	if (o < len)
		data[o] = '\0';
	return o;
}
