/* A terminal app in C against fieldlink.h, driven by tests/c_program.rs:
 *   terminal CONFIG_JSON_FILE RECORD_BIN PHOTO_JPG RECORD2_BIN OUTBOX_DB
 * It prints one "key=value" line per step for the test to check, and exits
 * non-zero at the first step that does not go as expected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldlink.h"

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size + 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) { perror(path); exit(2); }
    fclose(f);
    buf[size] = 0;
    *len = (size_t)size;
    return buf;
}

static void expect(FlStatus got, FlStatus want, const char *step) {
    if (got != want) {
        const char *message = fl_last_error_message();
        fprintf(stderr, "%s: status %d, wanted %d: %s\n", step, (int)got, (int)want, message ? message : "(none)");
        exit(1);
    }
}

struct progress { unsigned calls; uint64_t last_sent; uint64_t total; };

static void on_progress(void *user_data, uint64_t sent, uint64_t total, uint32_t attempt) {
    struct progress *p = user_data;
    (void)attempt;
    p->calls++;
    p->last_sent = sent;
    p->total = total;
}

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: terminal CONFIG RECORD PHOTO RECORD2 OUTBOX\n"); return 2; }
    /* Unbuffered: a crash still shows how far it got. */
    setvbuf(stdout, NULL, _IONBF, 0);
    size_t len;
    char *config = (char *)read_file(argv[1], &len);
    printf("version=%s\n", fl_version());

    /* Refusals first: typed codes with messages, nothing crashes. */
    FlClient *client = NULL;
    expect(fl_client_connect("{not json", &client), FL_STATUS_CONFIG, "bad config");
    printf("bad_config=%s\n", fl_last_error_message());
    expect(fl_client_connect(NULL, &client), FL_STATUS_INVALID_ARGUMENT, "NULL config");
    expect(fl_client_connect(config, NULL), FL_STATUS_INVALID_ARGUMENT, "NULL out");

    expect(fl_client_connect(config, &client), FL_STATUS_OK, "connect");
    if (fl_last_error_message() != NULL) { fprintf(stderr, "message after success\n"); return 1; }

    size_t record_len;
    unsigned char *record = read_file(argv[2], &record_len);
    FlReceipt receipt;
    expect(fl_client_submit(client, FL_ITEM_KIND_INSPECTION, record, record_len, &receipt), FL_STATUS_OK, "submit");
    printf("record_id=%s\nrecord_seq=%llu\n", (char *)receipt.item_id, (unsigned long long)receipt.server_seq);
    /* The same bytes again: the original receipt, marked as a resend. */
    FlReceipt again;
    expect(fl_client_submit(client, FL_ITEM_KIND_INSPECTION, record, record_len, &again), FL_STATUS_OK, "resend");
    printf("resend_seq=%llu\nresend_replayed=%u\n", (unsigned long long)again.server_seq, again.replayed);

    unsigned char garbage[] = {0xff, 0xff, 0xff, 0xff};
    expect(fl_client_submit(client, FL_ITEM_KIND_INSPECTION, garbage, sizeof garbage, &receipt),
           FL_STATUS_INVALID_ARGUMENT, "garbage");
    printf("garbage=%s\n", fl_last_error_message());
    expect(fl_client_submit(client, 42, record, record_len, &receipt), FL_STATUS_INVALID_ARGUMENT, "kind 42");
    expect(fl_client_submit(NULL, FL_ITEM_KIND_INSPECTION, record, record_len, &receipt),
           FL_STATUS_INVALID_ARGUMENT, "NULL client");

    struct progress progress = {0, 0, 0};
    FlReceipt photo;
    expect(fl_client_upload_file(client, (char *)receipt.item_id, "image/jpeg", argv[3], on_progress, &progress, &photo),
           FL_STATUS_OK, "upload");
    printf("photo_seq=%llu\nprogress_calls=%u\nprogress_last=%llu/%llu\n", (unsigned long long)photo.server_seq,
           progress.calls, (unsigned long long)progress.last_sent, (unsigned long long)progress.total);
    printf("photo_sha256=");
    for (int i = 0; i < 32; i++) printf("%02x", photo.sha256[i]);
    printf("\n");
    expect(fl_client_upload_file(client, (char *)receipt.item_id, "image/jpeg", "/nonexistent/photo.jpg", NULL, NULL,
                                 &photo), FL_STATUS_IO, "missing file");

    /* A live position, and one out of range refused before sending. */
    expect(fl_client_send_position(client, 29.8683, 121.5440, 6.0f, 1.5f, (int64_t)receipt.received_at_ms), FL_STATUS_OK,
           "position");
    expect(fl_client_send_position(client, 95.0, 121.5440, 6.0f, 1.5f, (int64_t)receipt.received_at_ms),
           FL_STATUS_REJECTED, "position out of range");
    printf("position_reason=%s\n", fl_last_error_reason());

    /* The feed: the assignment the test dispatched before starting us. */
    FlFeed *feed = NULL;
    expect(fl_feed_open(client, &feed), FL_STATUS_OK, "feed open");
    FlBytes event = {0};
    expect(fl_feed_next(feed, 60000, &event), FL_STATUS_OK, "feed next");
    printf("event_hex=");
    for (size_t i = 0; i < event.len; i++) printf("%02x", event.data[i]);
    printf("\n");
    fl_bytes_free(&event);
    fl_bytes_free(&event); /* a second free of the emptied bytes is harmless */
    expect(fl_feed_next(feed, 200, &event), FL_STATUS_TIMEOUT, "feed quiet");
    fl_feed_close(feed);

    /* The outbox: stored first, sent in the background. */
    FlOutbox *outbox = NULL;
    expect(fl_outbox_open(argv[5], &outbox), FL_STATUS_OK, "outbox open");
    size_t record2_len;
    unsigned char *record2 = read_file(argv[4], &record2_len);
    FlItemId queued;
    expect(fl_outbox_enqueue(outbox, FL_ITEM_KIND_INSPECTION, record2, record2_len, &queued), FL_STATUS_OK, "enqueue");
    printf("queued_id=%s\n", (char *)queued.id);
    expect(fl_outbox_enqueue(outbox, FL_ITEM_KIND_GRID_REPORT, record2, record2_len, &queued),
           FL_STATUS_INVALID_ARGUMENT, "grid report in outbox");
    expect(fl_outbox_start_sync(outbox, client), FL_STATUS_OK, "sync");
    uint8_t settled = 0;
    expect(fl_outbox_settled(outbox, 60000, &settled), FL_STATUS_OK, "settled");
    printf("settled=%u\n", settled);
    char *json = NULL;
    expect(fl_outbox_items_json(outbox, &json), FL_STATUS_OK, "items");
    printf("outbox=%s\n", json);
    fl_string_free(json);
    fl_outbox_close(outbox);

    fl_client_close(client);
    free(record);
    free(record2);
    free(config);
    printf("done=1\n");
    return 0;
}
