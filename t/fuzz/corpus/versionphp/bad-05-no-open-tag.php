no php tag
