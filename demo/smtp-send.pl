#!/usr/bin/perl
# smtp-send.pl PORT CLIENT-IP CLIENT-NAME HELO MAIL-FROM RCPT < message
# Sends one message to the demo's Postfix on 127.0.0.1:PORT as if it came from CLIENT-IP:
# Postfix's XCLIENT command (allowed for 127.0.0.1 only, smtpd_authorized_xclient_hosts) sets
# the client address, name and HELO that smtpd, OpenDKIM and dmarc-milter see — the only way to
# have mail "arrive" from the senders' documentation addresses on a loopback-only demo.
# Prints the final SMTP reply; exits 0 on 2xx, 1 on a rejection, 2 on a protocol error.
use strict;
use warnings;
use IO::Socket::INET;

my ($port, $ip, $name, $helo, $from, $rcpt) = @ARGV;
die "usage: smtp-send.pl PORT CLIENT-IP CLIENT-NAME HELO MAIL-FROM RCPT < message\n"
    unless defined $rcpt;
my $message = do { local $/; <STDIN> };
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
    Timeout => 30) or die "connect 127.0.0.1:$port: $!\n";

sub reply {
    my $text = '';
    while (my $line = <$s>) {
        $text .= $line;
        last if $line =~ /^\d{3} /;
    }
    $text =~ s/\r//g;
    return $text;
}
sub command {
    my ($line, $want) = @_;
    print $s "$line\r\n";
    my $r = reply();
    if ($r !~ /^$want/) {
        chomp $r;
        print "$r\n";
        print $s "QUIT\r\n";
        exit($r =~ /^5/ ? 1 : 2);
    }
    return $r;
}

reply() =~ /^220/ or die "no greeting\n";
command("EHLO demo-client.localhost", '250');
command("XCLIENT ADDR=$ip NAME=$name HELO=$helo", '220');
command("EHLO $helo", '250');
command("MAIL FROM:<$from>", '250');
command("RCPT TO:<$rcpt>", '250');
command("DATA", '354');
$message =~ s/\r?\n/\r\n/g;
$message =~ s/^\./../mg;
$message .= "\r\n" unless $message =~ /\r\n$/;
my $r = command("$message.", '250');
chomp $r;
print "$r\n";
print $s "QUIT\r\n";
exit 0;
